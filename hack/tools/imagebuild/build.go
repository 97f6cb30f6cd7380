package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRoot is the UID and GID the image runs as: distroless's "nonroot", so
// the same runAsUser works for this image and one built from the Dockerfile.
const NonRoot = 65532

// binaries is the repeatable -binary OS/ARCH[/VARIANT]=PATH flag.
type binaries []string

func (b *binaries) String() string     { return strings.Join(*b, ",") }
func (b *binaries) Set(v string) error { *b = append(*b, v); return nil }

type buildOptions struct {
	binaries binaries
	ref      string
	version  string
	revision string
	source   string
	created  int64
	output   string
	layout   string
}

func runBuild(args []string) error {
	var o buildOptions
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.Var(&o.binaries, "binary", "OS/ARCH[/VARIANT]=PATH of a static sparkplane binary; repeat for a multi-platform image")
	fs.StringVar(&o.ref, "ref", "", "image reference the archive names, e.g. ghcr.io/sparkplane/sparkplane:v0.1.0")
	fs.StringVar(&o.version, "version", "", "org.opencontainers.image.version label")
	fs.StringVar(&o.revision, "revision", "", "org.opencontainers.image.revision label (git commit)")
	fs.StringVar(&o.source, "source", "https://github.com/sparkplane/sparkplane", "org.opencontainers.image.source label")
	fs.Int64Var(&o.created, "created", 0, "creation time in Unix seconds (SOURCE_DATE_EPOCH); fixed so equal inputs give an equal digest")
	fs.StringVar(&o.output, "output", "", "path of the image archive to write")
	fs.StringVar(&o.layout, "layout", "", "optional directory to also leave the OCI image layout in (replaced)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(o.binaries) == 0 || o.ref == "" || o.output == "" {
		return errors.New("build needs -binary, -ref and -output")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return build(o)
}

func build(o buildOptions) error {
	tag, err := name.NewTag(o.ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("-ref %q: %w (want REGISTRY/REPOSITORY:TAG)", o.ref, err)
	}
	created := time.Unix(o.created, 0).UTC()
	labels := map[string]string{
		"org.opencontainers.image.title":       "sparkplane",
		"org.opencontainers.image.description": "Zone-aware placement for Spark on Kubernetes: admission webhook, gang scheduler plugin, certs controller",
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.url":         o.source,
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.revision,
		"org.opencontainers.image.created":     created.Format(time.RFC3339),
	}
	for k, v := range labels {
		if v == "" {
			delete(labels, k)
		}
	}

	type platformImage struct {
		platform v1.Platform
		image    v1.Image
	}
	var images []platformImage
	for _, b := range o.binaries {
		spec, path, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("-binary %q: want OS/ARCH=PATH, e.g. linux/amd64=bin/linux-amd64/sparkplane", b)
		}
		platform, err := v1.ParsePlatform(spec)
		if err != nil {
			return fmt.Errorf("-binary %q: platform: %w", b, err)
		}
		if slices.ContainsFunc(images, func(pi platformImage) bool { return pi.platform.Equals(*platform) }) {
			return fmt.Errorf("-binary %q: platform %s given twice", b, platform)
		}
		img, err := platformImageOf(*platform, path, created, labels)
		if err != nil {
			return fmt.Errorf("-binary %q: %w", b, err)
		}
		images = append(images, platformImage{*platform, img})
	}

	// Assemble the layout next to the output so the final renames stay on
	// one file system; a parallel build of another output never shares it.
	outDir := filepath.Dir(o.output)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("-output %s: %w", o.output, err)
	}
	dir, err := os.MkdirTemp(outDir, ".imagebuild-")
	if err != nil {
		return fmt.Errorf("-output %s: %w", o.output, err)
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	// Both names as Docker 25's `docker save` writes them: containerd and
	// docker load use the full reference, skopeo/podman the tag.
	names := layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          tag.Name(),
		"org.opencontainers.image.ref.name": tag.TagStr(),
	})
	if len(images) == 1 {
		err = lp.AppendImage(images[0].image, names)
	} else {
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		for _, pi := range images {
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: pi.image, Descriptor: v1.Descriptor{Platform: &pi.platform}})
		}
		err = lp.AppendIndex(idx, names)
	}
	if err != nil {
		return fmt.Errorf("writing the OCI layout: %w", err)
	}
	// docker load of an archive without the containerd image store reads
	// only manifest.json; it gets the first platform.
	if err := writeDockerManifest(dir, images[0].image, tag.Name()); err != nil {
		return err
	}

	im, err := lp.ImageIndex()
	if err != nil {
		return err
	}
	top, err := im.IndexManifest()
	if err != nil {
		return err
	}

	tmp := o.output + ".tmp-" + strconv.Itoa(os.Getpid())
	if err := tarDir(dir, tmp, created); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, o.output); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("-output %s: %w", o.output, err)
	}
	if o.layout != "" {
		// MkdirTemp made it 0700; the layout is for other users and tools too.
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
		if err := os.RemoveAll(o.layout); err != nil {
			return fmt.Errorf("-layout %s: %w", o.layout, err)
		}
		if err := os.Rename(dir, o.layout); err != nil {
			return fmt.Errorf("-layout %s: %w", o.layout, err)
		}
	}

	size, err := compressedSize(images[0].image)
	if err != nil {
		return err
	}
	st, err := os.Stat(o.output)
	if err != nil {
		return err
	}
	var platforms []string
	for _, pi := range images {
		platforms = append(platforms, pi.platform.String())
	}
	mb := func(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
	fmt.Printf("image     %s (%s)\n", tag.Name(), strings.Join(platforms, ", "))
	fmt.Printf("digest    %s (%s; the digest a registry reports for the pushed OCI layout)\n", top.Manifests[0].Digest, top.Manifests[0].MediaType)
	fmt.Printf("size      %s compressed, %s: config + layer, what a node pulls\n", mb(size), platforms[0])
	fmt.Printf("archive   %s (%s)\n", o.output, mb(st.Size()))
	if o.layout != "" {
		fmt.Printf("layout    %s/\n", o.layout)
	}
	return nil
}

// platformImageOf builds the single-layer image of one platform's binary on
// an empty base.
func platformImageOf(platform v1.Platform, binaryPath string, created time.Time, labels map[string]string) (v1.Image, error) {
	binary, err := os.ReadFile(binaryPath)
	if err != nil {
		return nil, err
	}
	fs, err := rootfs(binary, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(fs)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   v1.Time{Time: created},
		CreatedBy: "hack/build-image.sh: static /sparkplane on an empty base",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = platform.OS, platform.Architecture, platform.Variant, platform.OSVersion
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		// Numeric, so the kubelet can enforce runAsNonRoot without a passwd lookup.
		User:       fmt.Sprintf("%d:%d", NonRoot, NonRoot),
		Entrypoint: []string{"/sparkplane"},
		Env:        []string{"HOME=/home/nonroot"},
		WorkingDir: "/",
		Labels:     labels,
	}
	return mutate.ConfigFile(img, cf)
}

// rootfs returns the layer: the binary plus the little a scratch image needs
// to run as a non-root user — passwd/group naming UID 65532, a HOME it owns,
// and a sticky world-writable /tmp (`sparkplane scheduler` without --config
// writes its default configuration there). No CA bundle: every component talks TLS
// only to the API server, with the in-cluster CA from the ServiceAccount
// token mount or the --kubeconfig's CA. No shell, no other executable.
func rootfs(binary []byte, mtime time.Time) ([]byte, error) {
	type entry struct {
		name string
		mode int64
		id   int
		body []byte
	}
	const passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	const group = "root:x:0:\nnonroot:x:65532:\n"
	entries := []entry{ // directories end in "/"; sorted
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, id: NonRoot},
		{name: "sparkplane", mode: 0o755, body: binary},
		{name: "tmp/", mode: 0o1777},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.id, Gid: e.id, ModTime: mtime, Format: tar.FormatUSTAR, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("layer entry %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeDockerManifest adds the manifest.json `docker load` reads, pointing
// at the layout's blobs (so they are stored once).
func writeDockerManifest(dir string, img v1.Image, ref string) error {
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	blob := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
	entry := tarball.Descriptor{Config: blob(m.Config.Digest), RepoTags: []string{ref}}
	for _, l := range m.Layers {
		entry.Layers = append(entry.Layers, blob(l.Digest))
	}
	data, err := json.Marshal(tarball.Manifest{entry})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), data, 0o644)
}

// tarDir writes dir as an uncompressed tar with sorted names, fixed times and
// root ownership, so equal layouts give equal archives.
func tarDir(dir, out string, mtime time.Time) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		if d.IsDir() {
			h.Name, h.Mode, h.Typeflag = h.Name+"/", 0o755, tar.TypeDir
			return tw.WriteHeader(h)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h.Size = info.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// compressedSize is what pulling img transfers: its config and compressed layers.
func compressedSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}
