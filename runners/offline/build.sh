#!/usr/bin/env bash
# Builds the stand-ins for the third-party images docker-compose.yml names, from what the package registries serve
# (Debian, Maven Central, PyPI), for machines that reach no image registry; then docker-compose.offline.yml switches
# the Compose file to them:
#   runners/offline/build.sh
#   docker-compose -f docker-compose.yml -f docker-compose.offline.yml up -d
# Needs a Docker daemon (DOCKER_HOST) and the image debian:bookworm-slim (made from Debian's packages by
# ../shared/docker/base-image.sh when no registry serves it; this script runs it if it is there). Builds reuse the
# daemon's layer cache: a second run takes seconds. The FlinkRunner scripts/flink-runner.sh resolved (or installed
# from a source build where the Maven repository does not serve it) goes to the project images' Maven stage through
# m2-extra/, which is empty for builds with internet.
set -euo pipefail
if [[ "${1:-}" == --help || "${1:-}" == -h ]]; then sed -n '2,/^set -/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0; fi  # the header above, nothing run
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
log() { echo "[offline-images] $*" >&2; }

if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  base="${BASE_IMAGE_SCRIPT:-$repo/../shared/docker/base-image.sh}"
  [[ -x "$base" ]] || { log "no image debian:bookworm-slim, and no $base to make it"; exit 1; }
  "$base"
fi

# The FlinkRunner the pipeline's jar carries, in a Maven repository layout the build stage copies into its own.
runner=org/apache/beam/beam-runners-flink-1.19/2.71.0
m2="${MAVEN_REPO:-$HOME/.m2/repository}"
"$repo/scripts/flink-runner.sh"
mkdir -p "$here/m2-extra/$runner"
cp "$m2/$runner"/beam-runners-flink-1.19-2.71.0.{jar,pom} "$here/m2-extra/$runner/"

build() { # tag folder
  local started=$SECONDS
  log "building $1 (runners/offline/$2)"
  local out; out="$(mktemp)"
  if ! docker build -t "$1" -f "$here/$2/Dockerfile" "$repo" > "$out" 2>&1; then
    tail -40 "$out" >&2; rm -f "$out"; log "building $1 failed"; exit 1
  fi
  rm -f "$out"
  log "built $1 in $((SECONDS - started)) s"
}
build click-offline/maven:3.8.7-openjdk-17 maven
build click-offline/openjdk:17-jre jre
build click-offline/kafka:4.1.1 kafka
build click-offline/flink:1.19.3-java17 flink
build click-offline/clickhouse-server:18.16 clickhouse
build click-offline/postgres:15 postgres
build click-offline/redis:7.0 redis
build click-offline/airflow:3.3.2-python3.11 airflow
log "done; now: docker-compose -f docker-compose.yml -f docker-compose.offline.yml up -d"
