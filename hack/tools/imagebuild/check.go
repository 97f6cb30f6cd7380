package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// CheckReport is what check prints as JSON; test/image reads it.
type CheckReport struct {
	// Reference is the io.containerd.image.name annotation of index.json.
	Reference string `json:"reference"`
	// Digest is the index.json entry: the pushed image or index digest.
	Digest string `json:"digest"`
	// MediaType is that entry's media type.
	MediaType string `json:"mediaType"`
	// Images lists the platform images (one unless multi-platform).
	Images []CheckedImage `json:"images"`
	// DockerConfigDigest is the config manifest.json names, the image
	// `docker load` and `crane push FILE` see.
	DockerConfigDigest string `json:"dockerConfigDigest"`
	// PushedDigest is the digest an in-memory registry reports after the
	// layout was pushed to it the way `crane push DIR` does.
	PushedDigest string `json:"pushedDigest"`
}

// CheckedImage is one platform's image.
type CheckedImage struct {
	Platform       string `json:"platform"`
	Digest         string `json:"digest"`
	ConfigDigest   string `json:"configDigest"`
	CompressedSize int64  `json:"compressedSize"`
}

func runCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	archive := fs.String("tarball", "", "image archive written by build")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *archive == "" || fs.NArg() > 0 {
		return errors.New("check needs exactly -tarball FILE")
	}
	r, err := check(*archive)
	if err != nil {
		return fmt.Errorf("-tarball %s: %w", *archive, err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// check reads the archive as every consumer does — as a Docker archive
// (manifest.json) and as an OCI layout — validates every digest, size and
// diff ID with go-containerregistry's validate package, and pushes the
// layout to an in-memory registry.
func check(archive string) (*CheckReport, error) {
	docker, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		return nil, fmt.Errorf("reading it as a docker archive: %w", err)
	}
	if err := validate.Image(docker); err != nil {
		return nil, fmt.Errorf("docker archive: %w", err)
	}
	dockerConfig, err := docker.ConfigName()
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "imagebuild-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := untar(archive, dir); err != nil {
		return nil, err
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading it as an OCI layout: %w", err)
	}
	if err := validate.Index(idx); err != nil {
		return nil, fmt.Errorf("OCI layout: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(im.Manifests) != 1 {
		return nil, fmt.Errorf("index.json has %d entries, want 1", len(im.Manifests))
	}
	top := im.Manifests[0]
	r := &CheckReport{
		Reference:          top.Annotations["io.containerd.image.name"],
		Digest:             top.Digest.String(),
		MediaType:          string(top.MediaType),
		DockerConfigDigest: dockerConfig.String(),
	}

	var pushable interface{ Digest() (v1.Hash, error) }
	switch {
	case top.MediaType.IsImage():
		img, err := idx.Image(top.Digest)
		if err != nil {
			return nil, err
		}
		ci, err := checked(img, nil)
		if err != nil {
			return nil, err
		}
		r.Images, pushable = append(r.Images, ci), img
	case top.MediaType.IsIndex():
		child, err := idx.ImageIndex(top.Digest)
		if err != nil {
			return nil, err
		}
		cm, err := child.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, d := range cm.Manifests {
			img, err := child.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			ci, err := checked(img, d.Platform)
			if err != nil {
				return nil, err
			}
			r.Images = append(r.Images, ci)
		}
		pushable = child
	default:
		return nil, fmt.Errorf("index.json entry has media type %s, want an image or an index", top.MediaType)
	}

	if r.PushedDigest, err = push(pushable); err != nil {
		return nil, fmt.Errorf("pushing to an in-memory registry: %w", err)
	}
	return r, nil
}

func checked(img v1.Image, p *v1.Platform) (CheckedImage, error) {
	d, err := img.Digest()
	if err != nil {
		return CheckedImage{}, err
	}
	cn, err := img.ConfigName()
	if err != nil {
		return CheckedImage{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return CheckedImage{}, err
	}
	size, err := compressedSize(img)
	if err != nil {
		return CheckedImage{}, err
	}
	if p == nil {
		p = cf.Platform()
	}
	return CheckedImage{Platform: p.String(), Digest: d.String(), ConfigDigest: cn.String(), CompressedSize: size}, nil
}

func push(x interface{ Digest() (v1.Hash, error) }) (string, error) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/sparkplane/sparkplane:check")
	if err != nil {
		return "", err
	}
	switch v := x.(type) {
	case v1.Image:
		err = remote.Write(ref, v)
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, v)
	}
	if err != nil {
		return "", err
	}
	desc, err := remote.Get(ref)
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// untar extracts the archive's directories and regular files into dir,
// refusing anything that would land outside it.
func untar(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !filepath.IsLocal(h.Name) {
			return fmt.Errorf("archive entry %q is outside the archive", h.Name)
		}
		path := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o755)
		case tar.TypeReg:
			err = writeFile(path, tr)
		default:
			err = fmt.Errorf("archive entry %q has type %q, want a file or directory", h.Name, h.Typeflag)
		}
		if err != nil {
			return err
		}
	}
}

func writeFile(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
