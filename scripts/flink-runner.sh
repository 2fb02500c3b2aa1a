#!/usr/bin/env bash
# Makes sure Maven can resolve Beam's FlinkRunner for Flink 1.19 (org.apache.beam:beam-runners-flink-1.19:2.71.0),
# which the pipeline's bundled jar carries next to the DirectRunner. Where the Maven repository serves it, Maven
# fetches it like any other dependency. Where it does not (this project's build machines: their mirror serves no
# beam-runners-flink-*), this installs the from-source build kept in ../shared/flink (see its README) into the local
# repository. Idempotent; every script that builds the pipeline calls it first, CI too.
set -euo pipefail
if [[ "${1:-}" == --help || "${1:-}" == -h ]]; then sed -n '2,/^set -/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0; fi  # the header above, nothing run
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
m2="${MAVEN_REPO:-$HOME/.m2/repository}"
artifact=org.apache.beam:beam-runners-flink-1.19:2.71.0
jar="$m2/org/apache/beam/beam-runners-flink-1.19/2.71.0/beam-runners-flink-1.19-2.71.0.jar"
[[ -f "$jar" ]] && exit 0
if mvn -B -q dependency:get -Dartifact="$artifact" -Dtransitive=false >/dev/null 2>&1; then
  echo "[flink-runner] $artifact resolved from the Maven repository" >&2
  exit 0
fi
shared="${FLINK_RUNNER_SOURCE_BUILD:-$repo/../shared/flink}"
if [[ -x "$shared/install.sh" ]]; then
  echo "[flink-runner] the Maven repository does not serve $artifact: installing the from-source build in $shared" >&2
  "$shared/install.sh"
  exit 0
fi
echo "[flink-runner] ERROR: Maven cannot resolve $artifact and there is no from-source build at $shared" \
  "(set FLINK_RUNNER_SOURCE_BUILD to the folder holding install.sh)" >&2
exit 1
