#!/usr/bin/env bash
# Installs Apache Spark from PyPI's pyspark (whose package ships the
# spark-submit scripts and all jars, the Kubernetes ones included) into a
# git-ignored cache, and prints SPARK_HOME. Idempotent: a second run only
# prints. Needs python3 and Java 17 on the machine. Progress lines (each
# slow step, with seconds taken) go to stderr.
#
#   hack/install-spark.sh            # prints SPARK_HOME
#   SPARK_VERSION=3.5.9 hack/install-spark.sh
set -euo pipefail
cd "$(dirname "$0")/.."

version="${SPARK_VERSION:-3.5.9}"
cache="${SPARKPLANE_CACHE:-$PWD/.cache}/spark/${version}"
venv="$cache/venv"
marker="$cache/.installed"

# Test packages run in parallel and may all ask at once: one installs, the
# others wait for it.
mkdir -p "$cache"
exec 9>"$cache/.lock"
if ! flock -n 9; then
  echo "install-spark: another process is installing Spark into ${cache}; waiting for it" >&2
  flock 9
fi

if [ ! -f "$marker" ]; then
  command -v python3 >/dev/null || { echo "install-spark: python3 not found; install Python 3.9+" >&2; exit 1; }
  echo "install-spark: installing pyspark==${version} into ${venv} (about 320 MB, once; about a minute)" >&2
  start=$SECONDS
  rm -rf "$venv"
  echo "install-spark: creating a Python venv" >&2
  python3 -m venv "$venv"
  echo "install-spark: pip install pyspark==${version} (downloading and unpacking; no output until done)" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pyspark==${version}" >&2
  touch "$marker"
  echo "install-spark: installed pyspark==${version} in $((SECONDS - start)) s" >&2
fi

spark_home=$("$venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
[ -x "$spark_home/bin/spark-submit" ] || { echo "install-spark: $spark_home/bin/spark-submit missing" >&2; exit 1; }
ls "$spark_home"/jars/spark-kubernetes_*.jar >/dev/null 2>&1 || { echo "install-spark: no spark-kubernetes jar in $spark_home/jars" >&2; exit 1; }
echo "$spark_home"
