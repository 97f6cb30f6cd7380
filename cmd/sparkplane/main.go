// Command sparkplane is the placement and scheduling layer for Apache Spark
// on Kubernetes, with the developer commands: `sparkplane local up` (a
// local multi-zone cluster in this process) and `sparkplane demo`. `make
// build` builds it into bin/sparkplane. The container image ships
// cmd/sparkplane-image instead, which has every other command and links no
// etcd or kube-apiserver. Run `sparkplane --help`.
package main

import (
	"os"

	"github.com/sparkplane/sparkplane/pkg/devcli"
)

func main() {
	if err := devcli.NewRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
