#!/usr/bin/env bash
# Regenerates the k8s.io staging-module replace block in go.mod from the
# replace block of k8s.io/kubernetes's own go.mod, so a Kubernetes version
# bump is one command:
#
#   hack/update-k8s-replace.sh v1.36.3
#
# k8s.io/kubernetes refers to its staging modules (k8s.io/api, client-go, ...)
# as v0.0.0 and replaces them with ./staging paths; consumers must replace each
# with the matching published v0.X.Y.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${1:-$(go list -m -f '{{.Version}}' k8s.io/kubernetes)}"
staging="v0.${version#v1.}"

go mod download "k8s.io/kubernetes@${version}"
modfile="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/${version}.mod"
[ -f "$modfile" ] || { echo "no go.mod for k8s.io/kubernetes@${version} at $modfile" >&2; exit 1; }

mods=$(awk '/^replace \(/{inblk=1;next} inblk&&/^\)/{inblk=0} inblk&&$1 ~ /^k8s.io\//{print $1}' "$modfile" | sort -u)
[ -n "$mods" ] || { echo "found no staging modules in $modfile" >&2; exit 1; }

args=(-require="k8s.io/kubernetes@${version}")
for m in $mods; do args+=(-replace="${m}=${m}@${staging}"); done
go mod edit "${args[@]}"
echo "k8s.io/kubernetes ${version}: replaced $(echo "$mods" | wc -l) staging modules with ${staging}"
