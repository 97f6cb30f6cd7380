#!/usr/bin/env bash
# Runs helm built from the Go module proxy (`go install helm.sh/helm/vN/cmd/helm@VERSION`),
# never a downloaded binary. The binary is cached per version under .cache/helm/ (git-ignored);
# concurrent callers (test packages run in parallel) wait on a lock while the first one builds.
#
#   hack/helm.sh lint deploy/helm/sparkplane
#   HELM_VERSION=v4.3.1 hack/helm.sh version
#   hack/helm.sh --print-path     # build if needed, print the binary's path
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${root}/.cache/helm/${HELM_VERSION}"
bin="${dir}/helm"
major="${HELM_VERSION%%.*}" # v3 or v4: the module path's major version suffix

if [[ ! -x "${bin}" ]]; then
  mkdir -p "${dir}"
  exec 9>"${dir}.lock"
  flock 9
  if [[ ! -x "${bin}" ]]; then
    echo "hack/helm.sh: building helm ${HELM_VERSION} from the Go module proxy into ${dir} (once per version)" >&2
    tmp="$(mktemp -d "${dir}.build.XXXXXX")"
    trap 'rm -rf "${tmp}"' EXIT
    ldflags="-s -w -X helm.sh/helm/${major}/internal/version.version=${HELM_VERSION}"
    if [[ "${major}" == v3 ]]; then
      # As helm's own release build does, stamp the Kubernetes version that `helm template` and
      # `helm lint` assume, from the client-go helm is built with (v0.N -> 1.N); unstamped, helm 3
      # assumes v1.20. Helm 4 reads it from its build info itself.
      gomod="$(cd "${tmp}" && go mod download -json "helm.sh/helm/v3@${HELM_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
      k8s_minor="$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "${gomod}")"
      for p in pkg/chartutil pkg/lint/rules; do
        ldflags+=" -X helm.sh/helm/v3/${p}.k8sVersionMajor=1 -X helm.sh/helm/v3/${p}.k8sVersionMinor=${k8s_minor:?cannot read the client-go version of helm from ${gomod}}"
      done
    fi
    # Run outside the repository so our go.mod plays no part.
    (cd "${tmp}" && GOFLAGS=-mod=mod GOBIN="${tmp}" go install -ldflags "${ldflags}" "helm.sh/helm/${major}/cmd/helm@${HELM_VERSION}")
    mv "${tmp}/helm" "${bin}" # atomic: a reader never sees a half-written binary
  fi
  exec 9>&-
fi

if [[ "${1:-}" == "--print-path" ]]; then
  echo "${bin}"
  exit 0
fi
exec "${bin}" "$@"
