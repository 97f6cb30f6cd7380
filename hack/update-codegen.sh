#!/usr/bin/env bash
# Regenerates the DeepCopy methods (zz_generated.deepcopy.go) of the
# configuration types with Kubernetes' own generator, k8s.io/code-generator's
# deepcopy-gen, at the version of the k8s.io libraries in go.mod. Types opt
# in with +k8s:deepcopy-gen tags (package-wide in pkg/apis/config/v1alpha1,
# per type in pkg/scheduler). Run it (make generate) after changing those
# types and commit the output; `make lint` fails while it is out of date.
#
#   hack/update-codegen.sh          # write the generated files
#   hack/update-codegen.sh --verify # exit 1 if they are out of date
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
GO=${GO:-go}
# The version of the k8s.io/* libraries this module builds with (the replace block).
CODE_GENERATOR_VERSION=${CODE_GENERATOR_VERSION:-$("$GO" list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' k8s.io/apimachinery)}
packages=(./pkg/apis/config/v1alpha1 ./pkg/scheduler)
output=zz_generated.deepcopy.go

verify=false
if [[ ${1:-} == --verify ]]; then verify=true; fi

gen() {
  echo "deepcopy-gen ${CODE_GENERATOR_VERSION}: ${packages[*]}" >&2
  "$GO" run "k8s.io/code-generator/cmd/deepcopy-gen@${CODE_GENERATOR_VERSION}" \
    --go-header-file hack/boilerplate.go.txt --output-file "$output" "${packages[@]}"
}

if ! $verify; then
  gen
  exit 0
fi

# Verify: generate into a scratch copy of the generated files and compare.
saved=$(mktemp -d)
trap 'for p in "${packages[@]}"; do [[ -f "$saved/$p/$output" ]] && cp "$saved/$p/$output" "$p/$output"; done; rm -rf "$saved"' EXIT
for p in "${packages[@]}"; do
  mkdir -p "$saved/$p"
  [[ -f "$p/$output" ]] && cp "$p/$output" "$saved/$p/$output"
done
gen
stale=()
for p in "${packages[@]}"; do
  if ! cmp -s "$p/$output" "$saved/$p/$output"; then stale+=("$p/$output"); fi
done
if ((${#stale[@]})); then
  echo "out of date: ${stale[*]}; run make generate and commit the result" >&2
  exit 1
fi
