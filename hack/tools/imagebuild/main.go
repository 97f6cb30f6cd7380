// Command imagebuild assembles the sparkplane container image from scratch —
// no base image, no Docker daemon, no registry — and checks a built image.
// hack/build-image.sh compiles the static binaries and calls it:
//
//	imagebuild build -binary linux/amd64=PATH [-binary linux/arm64=PATH] \
//	    -ref ghcr.io/sparkplane/sparkplane:TAG -version V -revision SHA -created UNIX \
//	    -output bin/sparkplane-image.tar [-layout bin/sparkplane-image]
//	imagebuild check -tarball bin/sparkplane-image.tar
//
// The output tarball is an OCI image layout (oci-layout, index.json, blobs/)
// that also carries a Docker manifest.json, the same shape `docker save`
// writes since Docker 25, so `docker load`, `podman load`, `skopeo copy
// oci-archive:` and `crane push` all read it.
//
// It lives in its own module so go-containerregistry stays out of the main
// module's dependency graph.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: imagebuild build|check [flags] (see -h of each)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = runBuild(os.Args[2:])
	case "check":
		err = runCheck(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: use build or check", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}
