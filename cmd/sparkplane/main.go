// Command sparkplane is the placement and scheduling layer for Apache Spark
// on Kubernetes. Run `sparkplane --help`.
package main

import (
	"os"

	"github.com/sparkplane/sparkplane/pkg/cli"
)

func main() {
	if err := cli.NewRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
