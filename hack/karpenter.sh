#!/usr/bin/env bash
# Builds the real Karpenter with its KWOK cloud provider (sigs.k8s.io/karpenter/kwok, upstream's
# own main) from the Go module proxy, never a downloaded binary, and copies out the CRDs it needs.
# The module hack/tools/karpenter pins the default version (its go.sum is the checksum record);
# another version is resolved in a scratch copy of that module, the committed files untouched.
#
#   hack/karpenter.sh            # build if needed, print the binary's path
#   hack/karpenter.sh v1.14.3    # another release
#   hack/karpenter.sh --crds [VERSION]   # build if needed, print the CRD directory
#
# Layout (git-ignored; SPARKPLANE_CACHE moves it, as for hack/install-spark.sh):
#   .cache/karpenter/<version>/karpenter   the binary
#   .cache/karpenter/<version>/crds/       kwok/charts/crds/*.yaml and the KWOKNodeClass CRD
# Idempotent: a second run only prints. Concurrent callers (test packages run in parallel) wait
# on a lock while the first one builds. Karpenter v1.15.0's go.mod says go 1.26.9, newer than
# this machine's Go, so the build alone runs with GOTOOLCHAIN=go1.27.3 (KARPENTER_GOTOOLCHAIN to
# change it), which the go command fetches from the module proxy once per machine.
set -euo pipefail

default_version=v1.15.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module="${root}/hack/tools/karpenter"
toolchain="${KARPENTER_GOTOOLCHAIN:-go1.27.3}"

print=bin
if [[ "${1:-}" == "--crds" ]]; then
  print=crds
  shift
fi
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
version="${1:-${KARPENTER_VERSION:-${default_version}}}"
if [[ $# -gt 1 ]]; then
  echo "hack/karpenter.sh: too many arguments; usage: hack/karpenter.sh [--crds] [VERSION]" >&2
  exit 2
fi
if [[ ! "${version}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "hack/karpenter.sh: VERSION ${version@Q} is not a release tag of sigs.k8s.io/karpenter; use one like ${default_version} (list them: go list -m -versions sigs.k8s.io/karpenter)" >&2
  exit 2
fi

cache="${SPARKPLANE_CACHE:-${root}/.cache}/karpenter"
dir="${cache}/${version}"
bin="${dir}/karpenter"

built() { [[ -x "${bin}" && -d "${dir}/crds" ]]; }

if ! built; then
  mkdir -p "${cache}"
  exec 9>"${dir}.lock"
  if ! flock -n 9; then
    echo "hack/karpenter.sh: waiting for another build of Karpenter ${version} (${dir}.lock)" >&2
    flock 9
  fi
  if ! built; then
    echo "hack/karpenter.sh: building Karpenter ${version} (KWOK provider) into ${dir} (once: ~7 CPU-minutes, ~5 min on 2 idle cores, longer on a busy machine)" >&2
    start=${SECONDS}
    tmp="$(mktemp -d "${dir}.build.XXXXXX")"
    trap 'rm -rf "${tmp}"' EXIT
    src="${module}"
    if [[ "${version}" != "${default_version}" ]]; then
      # Resolve another release in a scratch copy so the committed go.mod/go.sum stay as they are.
      src="${tmp}/module"
      mkdir -p "${src}"
      cp "${module}/go.mod" "${module}/go.sum" "${src}/"
      (cd "${src}" && GOTOOLCHAIN="${toolchain}" GOFLAGS=-mod=mod go get -tool "sigs.k8s.io/karpenter/kwok@${version}") >&2
    fi
    # go list -m prints an empty Dir for a module not yet in the module cache
    # (a cold cache): download it first.
    (cd "${src}" && GOTOOLCHAIN="${toolchain}" go mod download sigs.k8s.io/karpenter) >&2
    moddir="$(cd "${src}" && GOTOOLCHAIN="${toolchain}" go list -m -f '{{.Dir}}' sigs.k8s.io/karpenter)"
    [[ -n "${moddir}" && -d "${moddir}/kwok" ]] || { echo "hack/karpenter.sh: sigs.k8s.io/karpenter is not in the module cache after go mod download" >&2; exit 1; }
    (cd "${src}" && GOTOOLCHAIN="${toolchain}" go build -trimpath \
      -ldflags "-s -w -X sigs.k8s.io/karpenter/pkg/operator.Version=${version}" \
      -o "${tmp}/out/karpenter" sigs.k8s.io/karpenter/kwok) >&2
    mkdir -p "${tmp}/out/crds"
    cp "${moddir}"/kwok/charts/crds/*.yaml "${moddir}/kwok/apis/crds/karpenter.kwok.sh_kwoknodeclasses.yaml" "${tmp}/out/crds/"
    chmod -R u+w "${tmp}/out/crds" # the module cache is read-only
    rm -rf "${dir}"
    mv "${tmp}/out" "${dir}" # atomic: a reader never sees a half-copied directory
    echo "hack/karpenter.sh: built Karpenter ${version} in $((SECONDS - start))s" >&2
  fi
  exec 9>&-
fi

if [[ "${print}" == crds ]]; then
  echo "${dir}/crds"
else
  echo "${bin}"
fi
