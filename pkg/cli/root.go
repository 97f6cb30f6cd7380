// Package cli is the sparkplane command line: cobra commands that parse
// flags and call the components.
package cli

import (
	"flag"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

// Version is set at build time with -ldflags "-X github.com/sparkplane/sparkplane/pkg/cli.Version=...".
var Version = "dev"

// NewRootCommand builds the sparkplane command tree.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "sparkplane",
		Short: "Placement and scheduling for Apache Spark on Kubernetes",
		Long: `sparkplane keeps every Spark executor in its driver's availability zone, puts
drivers on on-demand and executors on spot capacity, and explains each decision.

It works with unmodified spark-submit, the spark-operator and EMR on EKS, and
with any scheduler.`,
		SilenceUsage: true,
	}
	fs := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(fs)
	root.PersistentFlags().AddGoFlagSet(fs)
	root.AddCommand(newDemoCommand(), newLocalCommand(), newWebhookCommand(), newCertsCommand(), newSchedulerCommand(), newQueuesCommand(), newAuditCommand(), newConfigCommand(), newVersionCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the sparkplane version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { cmd.Println("sparkplane " + Version) },
	}
}
