// Command sparkplane-image is the sparkplane binary the container image
// ships as /sparkplane (hack/build-image.sh, Dockerfile): the commands that
// run against a cluster (webhook, scheduler, certs, queues, audit, config,
// version) and not the developer commands `local` and `demo`, so it links
// no etcd server and no kube-apiserver (test/image checks). Developers use
// cmd/sparkplane, which has both.
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
