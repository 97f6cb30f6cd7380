#!/usr/bin/env bash
# Builds the sparkplane container image without a Docker daemon or a base image:
# a static (CGO_ENABLED=0, -trimpath) binary at /sparkplane on an empty base, built
# from ./cmd/sparkplane-image (the production commands, not local/demo: no etcd),
# running as UID/GID 65532, assembled by hack/tools/imagebuild (go-containerregistry,
# kept out of the main module). See docs/image.md.
#
#   hack/build-image.sh                                   # host platform -> bin/sparkplane-image.tar
#   PLATFORMS=linux/amd64,linux/arm64 hack/build-image.sh # multi-platform index
#
# Environment (all optional):
#   OUT        archive to write (default bin/sparkplane-image.tar); the OCI layout
#              directory is left next to it, without the .tar (bin/sparkplane-image/)
#   IMAGE      repository (default ghcr.io/sparkplane/sparkplane)
#   VERSION    version stamped into the binary and the labels (default: git describe)
#   TAG        image tag (default: VERSION with characters a tag cannot hold replaced by _)
#   PLATFORMS  comma-separated OS/ARCH list (default linux/<go env GOARCH>)
#   SOURCE_DATE_EPOCH  creation time (default: the HEAD commit's time), so a
#              rebuild of the same tree gives the same digest
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
GO=${GO:-go}

OUT=${OUT:-bin/sparkplane-image.tar}
IMAGE=${IMAGE:-ghcr.io/sparkplane/sparkplane}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
TAG=${TAG:-$(printf '%s' "$VERSION" | tr -c 'A-Za-z0-9_.-' '_')}
PLATFORMS=${PLATFORMS:-linux/$("$GO" env GOARCH)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
revision=$(git rev-parse HEAD 2>/dev/null || true)

case "$OUT" in
  *.tar) layout_dir=${OUT%.tar} ;;
  *) echo "OUT=$OUT: must end in .tar" >&2; exit 2 ;;
esac
mkdir -p "$(dirname "$OUT")"
# Concurrent builds of the same OUT (make image while test/image runs with the
# default OUT, or two test binaries) take turns; different OUTs never share files.
if command -v flock >/dev/null; then
  exec 9>"$OUT.lock"
  flock 9
fi
work=$(mktemp -d "$(cd "$(dirname "$OUT")" && pwd)/.build-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

start=$SECONDS
binaries=()
IFS=, read -ra platforms <<<"$PLATFORMS"
for platform in "${platforms[@]}"; do
  IFS=/ read -r goos goarch variant <<<"$platform"
  bin="$work/${platform//\//-}/sparkplane"
  goarm=()
  if [[ $goarch == arm && -n $variant ]]; then goarm=("GOARM=${variant#v}"); fi
  # -s -w: no symbol table or DWARF (panics still print file:line);
  # -trimpath: no build-machine paths in the binary.
  env CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" "${goarm[@]}" \
    "$GO" build -trimpath \
      -ldflags "-s -w -X github.com/sparkplane/sparkplane/pkg/cli.Version=$VERSION" \
      -o "$bin" ./cmd/sparkplane-image
  binaries+=(-binary "$platform=$bin")
done

"$GO" -C hack/tools/imagebuild build -o "$work/imagebuild" .
"$work/imagebuild" build "${binaries[@]}" \
  -ref "$IMAGE:$TAG" -version "$VERSION" -revision "$revision" -created "$SOURCE_DATE_EPOCH" \
  -output "$OUT" -layout "$layout_dir"
echo "built in $((SECONDS - start))s"
