// Package devcli holds the developer commands of the sparkplane binary
// built from cmd/sparkplane: `local` (a multi-zone cluster in this process)
// and `demo`. They start a real etcd and kube-apiserver in-process
// (pkg/localcluster, pkg/controlplane), so they live apart from pkg/cli:
// the container image's binary (cmd/sparkplane-image) is built from pkg/cli
// alone and links neither.
package devcli

import (
	"github.com/spf13/cobra"

	"github.com/sparkplane/sparkplane/pkg/cli"
)

// Commands returns the developer commands: demo and local.
func Commands() []*cobra.Command {
	return []*cobra.Command{newDemoCommand(), newLocalCommand()}
}

// NewRootCommand builds the developer binary's command tree: every
// production command of pkg/cli plus Commands.
func NewRootCommand() *cobra.Command {
	return cli.NewRootCommand(Commands()...)
}
