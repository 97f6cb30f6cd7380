// Package image tests the container image hack/build-image.sh builds: it
// builds it for the host platform, reads the archive with the standard
// library (tar + JSON, the OCI image layout is that simple, and this keeps
// go-containerregistry out of the main module), and checks what Kubernetes
// relies on: a numeric non-root user, /sparkplane as the entrypoint, a
// statically linked binary that runs, and nothing else executable. It also
// runs hack/tools/imagebuild check, which validates every digest with
// go-containerregistry and pushes the image to an in-memory registry.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

const (
	version    = "v0.0.0-imagetest"
	repository = "ghcr.io/sparkplane/sparkplane"
	// maxCompressed bounds what a node pulls (config + layer). Measured:
	// 26.1 MB for linux/amd64 (a 76 MB binary holding the webhook, the
	// kube-scheduler plugin, the certs controller and the CLI; 40.7 MB
	// while it also carried the local cluster's etcd and kube-apiserver).
	// The bound catches a base image, debug info, a second binary or the
	// dev cluster sneaking in.
	maxCompressed = 35_000_000
)

// descriptor, manifest and configFile are the fields of the OCI image spec
// JSON this test reads.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type configFile struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Env        []string          `json:"Env"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// dockerManifest is an entry of the manifest.json docker load reads.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// checkReport is the part of `imagebuild check`'s JSON this test compares.
type checkReport struct {
	Reference          string `json:"reference"`
	Digest             string `json:"digest"`
	DockerConfigDigest string `json:"dockerConfigDigest"`
	PushedDigest       string `json:"pushedDigest"`
	Images             []struct {
		Platform     string `json:"platform"`
		ConfigDigest string `json:"configDigest"`
	} `json:"images"`
}

var digestLine = regexp.MustCompile(`(?m)^digest +(sha256:[0-9a-f]{64})`)

func TestImage(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH; hack/build-image.sh needs it to compile the binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// A private output, so `make image` or another run never races this one;
	// two builds of that output at once exercise the script's lock, and
	// must agree on the digest since the build is reproducible.
	out := filepath.Join(t.TempDir(), "sparkplane-image.tar")
	var (
		wg      sync.WaitGroup
		outputs [2]string
		errs    [2]error
	)
	build := func(i int) {
		cmd := exec.Command(filepath.Join(root, "hack", "build-image.sh"))
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "OUT="+out, "VERSION="+version, "IMAGE="+repository, "PLATFORMS=linux/"+runtime.GOARCH)
		b, err := cmd.CombinedOutput()
		outputs[i], errs[i] = string(b), err
	}
	_, noFlock := exec.LookPath("flock")
	for i := range outputs {
		if noFlock != nil {
			build(i) // the script locks only with flock(1); without it, one at a time
			continue
		}
		wg.Go(func() { build(i) })
	}
	wg.Wait()
	var digests []string
	for i := range outputs {
		if errs[i] != nil {
			t.Fatalf("hack/build-image.sh: %v\n%s", errs[i], outputs[i])
		}
		m := digestLine.FindStringSubmatch(outputs[i])
		if m == nil {
			t.Fatalf("hack/build-image.sh printed no digest line:\n%s", outputs[i])
		}
		digests = append(digests, m[1])
	}
	t.Logf("hack/build-image.sh:\n%s", outputs[0])
	if digests[0] != digests[1] {
		t.Errorf("two builds of the same tree gave digests %s and %s, want equal (reproducible build)", digests[0], digests[1])
	}

	files := readArchive(t, out)
	var idx index
	decode(t, files, "index.json", &idx)
	if len(idx.Manifests) != 1 {
		t.Fatalf("index.json has %d manifests, want 1", len(idx.Manifests))
	}
	top := idx.Manifests[0]
	if top.Digest != digests[0] {
		t.Errorf("index.json names %s, the script printed %s", top.Digest, digests[0])
	}
	wantRef := repository + ":" + version
	if got := top.Annotations["io.containerd.image.name"]; got != wantRef {
		t.Errorf("index.json io.containerd.image.name = %q, want %q", got, wantRef)
	}
	if got := top.Annotations["org.opencontainers.image.ref.name"]; got != version {
		t.Errorf("index.json org.opencontainers.image.ref.name = %q, want %q", got, version)
	}

	var m manifest
	decodeBlob(t, files, top, "application/vnd.oci.image.manifest.v1+json", &m)
	if len(m.Layers) != 1 {
		t.Fatalf("manifest has %d layers, want 1 (an empty base plus the binary)", len(m.Layers))
	}
	var cfg configFile
	decodeBlob(t, files, m.Config, "application/vnd.oci.image.config.v1+json", &cfg)
	layer := blob(t, files, m.Layers[0], "application/vnd.oci.image.layer.v1.tar+gzip")
	layerTar := gunzip(t, layer)

	size := m.Config.Size + m.Layers[0].Size
	t.Logf("compressed size %.1f MB (bound %.0f MB)", float64(size)/1e6, float64(maxCompressed)/1e6)
	if size > maxCompressed {
		t.Errorf("compressed size %d bytes, want at most %d: did a base image, debug info or a second binary get in?", size, maxCompressed)
	}

	t.Run("config", func(t *testing.T) {
		checks := []struct {
			field     string
			got, want any
		}{
			{"config.User (numeric, so runAsNonRoot can be enforced)", cfg.Config.User, "65532:65532"},
			{"config.Entrypoint", cfg.Config.Entrypoint, []string{"/sparkplane"}},
			{"config.Cmd", cfg.Config.Cmd, []string(nil)},
			{"os", cfg.OS, "linux"},
			{"architecture", cfg.Architecture, runtime.GOARCH},
			{"label org.opencontainers.image.version", cfg.Config.Labels["org.opencontainers.image.version"], version},
			{"label org.opencontainers.image.source", cfg.Config.Labels["org.opencontainers.image.source"], "https://github.com/sparkplane/sparkplane"},
			{"rootfs.type", cfg.RootFS.Type, "layers"},
			{"rootfs.diff_ids (sha256 of the uncompressed layer)", cfg.RootFS.DiffIDs, []string{"sha256:" + sha256Hex(layerTar)}},
		}
		for _, c := range checks {
			if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
				t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
			}
		}
	})

	binary := checkFilesystem(t, layerTar)

	t.Run("static binary", func(t *testing.T) {
		f, err := elf.NewFile(bytes.NewReader(binary))
		if err != nil {
			t.Fatalf("/sparkplane is not an ELF file: %v", err)
		}
		defer f.Close()
		wantMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
		if wantMachine != 0 && f.Machine != wantMachine {
			t.Errorf("/sparkplane is for %v, want %v", f.Machine, wantMachine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("/sparkplane has a PT_INTERP program header: it is dynamically linked and needs a loader the image does not have (build with CGO_ENABLED=0)")
			}
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			t.Fatalf("reading DT_NEEDED of /sparkplane: %v", err)
		}
		if len(libs) > 0 {
			t.Errorf("/sparkplane needs shared libraries %v; the image has none", libs)
		}
	})

	t.Run("binary runs", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "sparkplane")
		if err := os.WriteFile(path, binary, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"version"}, "sparkplane " + version + " ("},
			{[]string{"version", "-o", "json"}, `"version": "` + version + `"`},
			{[]string{"webhook", "--help"}, "--tls-cert-file"},
			{[]string{"scheduler", "--help"}, "--config"},
		} {
			cmd := exec.Command(path, c.args...)
			// Only what the image sets: no PATH, no host HOME.
			cmd.Env, cmd.Dir = []string{"HOME=/home/nonroot"}, dir
			got, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("sparkplane %s: %v\n%s", strings.Join(c.args, " "), err, got)
				continue
			}
			if !strings.Contains(string(got), c.want) {
				t.Errorf("sparkplane %s printed\n%s\nwant it to contain %q", strings.Join(c.args, " "), got, c.want)
			}
		}
	})

	// The image ships the production commands only: the developer
	// commands (local, demo) start an etcd and a kube-apiserver in-process
	// and live in another binary (cmd/sparkplane).
	t.Run("no dev cluster", func(t *testing.T) {
		checkNoDevCluster(t, root, binary)
	})

	t.Run("docker manifest.json", func(t *testing.T) {
		var dm []dockerManifest
		decode(t, files, "manifest.json", &dm)
		want := []dockerManifest{{
			Config:   "blobs/sha256/" + strings.TrimPrefix(m.Config.Digest, "sha256:"),
			RepoTags: []string{wantRef},
			Layers:   []string{"blobs/sha256/" + strings.TrimPrefix(m.Layers[0].Digest, "sha256:")},
		}}
		if fmt.Sprint(dm) != fmt.Sprint(want) {
			t.Errorf("manifest.json = %+v, want %+v (the OCI manifest's blobs)", dm, want)
		}
	})

	t.Run("go-containerregistry", func(t *testing.T) {
		cmd := exec.Command("go", "-C", filepath.Join(root, "hack", "tools", "imagebuild"), "run", ".", "check", "-tarball", out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.Output()
		if err != nil {
			t.Fatalf("imagebuild check: %v\n%s", err, stderr.String())
		}
		var r checkReport
		if err := json.Unmarshal(stdout, &r); err != nil {
			t.Fatalf("imagebuild check printed %q: %v", stdout, err)
		}
		wantPlatform := "linux/" + runtime.GOARCH
		if r.Reference != wantRef || r.Digest != top.Digest || r.PushedDigest != top.Digest ||
			r.DockerConfigDigest != m.Config.Digest || len(r.Images) != 1 ||
			r.Images[0].ConfigDigest != m.Config.Digest || r.Images[0].Platform != wantPlatform {
			t.Errorf("imagebuild check reported %+v, want reference %s, digest and pushed digest %s, one %s image with config %s",
				r, wantRef, top.Digest, wantPlatform, m.Config.Digest)
		}
	})
}

// fsEntry is what the test wants of one layer entry.
type fsEntry struct {
	typ  byte
	mode int64
	uid  int
}

// checkFilesystem compares the layer with exactly the entries the image
// should have, and returns /sparkplane's content.
func checkFilesystem(t *testing.T, layerTar []byte) []byte {
	t.Helper()
	want := map[string]fsEntry{
		"etc/":          {tar.TypeDir, 0o755, 0},
		"etc/group":     {tar.TypeReg, 0o644, 0},
		"etc/passwd":    {tar.TypeReg, 0o644, 0},
		"home/":         {tar.TypeDir, 0o755, 0},
		"home/nonroot/": {tar.TypeDir, 0o700, 65532},
		"sparkplane":    {tar.TypeReg, 0o755, 0},
		"tmp/":          {tar.TypeDir, 0o1777, 0},
	}
	got := map[string]fsEntry{}
	var binary []byte
	tr := tar.NewReader(bytes.NewReader(layerTar))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the layer: %v", err)
		}
		got[h.Name] = fsEntry{h.Typeflag, h.Mode, h.Uid}
		if h.Typeflag == tar.TypeReg && h.Name != "sparkplane" && h.Mode&0o111 != 0 {
			t.Errorf("layer entry %s is executable (mode %o); /sparkplane must be the only one", h.Name, h.Mode)
		}
		if h.Name == "sparkplane" {
			if binary, err = io.ReadAll(tr); err != nil {
				t.Fatalf("reading /sparkplane from the layer: %v", err)
			}
		}
	}
	names := maps.Clone(got)
	maps.Copy(names, want)
	for _, name := range slices.Sorted(maps.Keys(names)) {
		g, ok := got[name]
		w, wanted := want[name]
		switch {
		case !ok:
			t.Errorf("layer has no %s, want type %q mode %o uid %d", name, w.typ, w.mode, w.uid)
		case !wanted:
			t.Errorf("layer has an unexpected entry %s (type %q mode %o uid %d): the image holds only /sparkplane and what a non-root scratch image needs", name, g.typ, g.mode, g.uid)
		case g != w:
			t.Errorf("layer entry %s has type %q mode %o uid %d, want type %q mode %o uid %d", name, g.typ, g.mode, g.uid, w.typ, w.mode, w.uid)
		}
	}
	if binary == nil {
		t.Fatal("layer has no /sparkplane")
	}
	return binary
}

// readArchive returns the archive's regular files and checks each blob's
// name is the sha256 of its content.
func readArchive(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s from %s: %v", h.Name, path, err)
		}
		files[h.Name] = b
		if hexDigest, ok := strings.CutPrefix(h.Name, "blobs/sha256/"); ok && sha256Hex(b) != hexDigest {
			t.Errorf("blob %s has sha256 %s: corrupt archive", h.Name, sha256Hex(b))
		}
	}
	var l struct {
		ImageLayoutVersion string `json:"imageLayoutVersion"`
	}
	decode(t, files, "oci-layout", &l)
	if l.ImageLayoutVersion != "1.0.0" {
		t.Errorf("oci-layout imageLayoutVersion = %q, want 1.0.0", l.ImageLayoutVersion)
	}
	return files
}

// blob returns the blob d points at, checking its media type and size.
func blob(t *testing.T, files map[string][]byte, d descriptor, mediaType string) []byte {
	t.Helper()
	if d.MediaType != mediaType {
		t.Fatalf("descriptor %s has media type %q, want %q", d.Digest, d.MediaType, mediaType)
	}
	hexDigest, ok := strings.CutPrefix(d.Digest, "sha256:")
	if !ok {
		t.Fatalf("descriptor digest %q is not sha256", d.Digest)
	}
	b, ok := files["blobs/sha256/"+hexDigest]
	if !ok {
		t.Fatalf("archive has no blob %s", d.Digest)
	}
	if int64(len(b)) != d.Size {
		t.Fatalf("blob %s has %d bytes, its descriptor says %d", d.Digest, len(b), d.Size)
	}
	return b
}

func decodeBlob(t *testing.T, files map[string][]byte, d descriptor, mediaType string, v any) {
	t.Helper()
	if err := json.Unmarshal(blob(t, files, d, mediaType), v); err != nil {
		t.Fatalf("blob %s: %v", d.Digest, err)
	}
}

func decode(t *testing.T, files map[string][]byte, name string, v any) {
	t.Helper()
	b, ok := files[name]
	if !ok {
		t.Fatalf("archive has no %s", name)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("layer is not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("layer: %v", err)
	}
	return out
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// devClusterPackages are import paths (prefixes) of the in-process control
// plane: embedded etcd and the kube-apiserver with its test harness.
var devClusterPackages = []string{"go.etcd.io/etcd/server/", "k8s.io/kubernetes/cmd/kube-apiserver/"}

// checkNoDevCluster checks that the image's binary links neither etcd
// server nor the kube-apiserver and has no local or demo command: from the
// binary's build info (main package, modules), then `go list -deps` of
// that main package in this tree, then its --help.
func checkNoDevCluster(t *testing.T, root string, binary []byte) {
	bi, err := buildinfo.Read(bytes.NewReader(binary))
	if err != nil {
		t.Fatalf("reading /sparkplane's build info: %v", err)
	}
	for _, d := range bi.Deps {
		if strings.HasPrefix(d.Path+"/", devClusterPackages[0]) {
			t.Errorf("/sparkplane (main package %s) links module %s: the image must not carry the local cluster's etcd", bi.Path, d.Path)
		}
	}
	list := exec.Command("go", "list", "-deps", bi.Path)
	list.Dir = root
	deps, err := list.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", bi.Path, err)
	}
	var linked []string
	for _, pkg := range strings.Fields(string(deps)) {
		for _, bad := range devClusterPackages {
			if strings.HasPrefix(pkg+"/", bad) {
				linked = append(linked, pkg)
			}
		}
	}
	if len(linked) > 0 {
		t.Errorf("go list -deps %s (the image's main package) has %d packages of etcd server or the kube-apiserver, e.g. %s: the image must link neither (the developer commands belong in cmd/sparkplane)",
			bi.Path, len(linked), strings.Join(linked[:min(3, len(linked))], ", "))
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "sparkplane")
	if err := os.WriteFile(path, binary, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "--help")
	cmd.Env, cmd.Dir = []string{"HOME=/home/nonroot"}, dir
	help, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sparkplane --help: %v\n%s", err, help)
	}
	for _, c := range []string{"webhook", "scheduler", "certs", "queues", "audit", "config", "version"} {
		if !regexp.MustCompile(`(?m)^  ` + c + `\s`).Match(help) {
			t.Errorf("sparkplane --help lacks the %s command:\n%s", c, help)
		}
	}
	var dev []string
	for _, c := range []string{"local", "demo"} {
		if regexp.MustCompile(`(?m)^  ` + c + `\s`).Match(help) {
			dev = append(dev, c)
		}
	}
	if len(dev) > 0 {
		t.Errorf("sparkplane --help lists %v, developer commands that cannot run in the image:\n%s", dev, help)
	}
}
