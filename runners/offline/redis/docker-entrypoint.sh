#!/usr/bin/env bash
# The stand-in's entrypoint, with the official redis image's contract: `redis-server [options]` (or options alone)
# runs the server as user redis, owning /data, with protected mode off when no config file is given; anything else
# runs as given.
set -euo pipefail
if [[ "${1:-}" == -* || -z "${1:-}" ]]; then set -- redis-server "$@"; fi
if [[ "$1" == redis-server ]]; then
  shift
  if [[ "${1:-}" != *.conf ]]; then set -- --protected-mode no --bind '* -::*' "$@"; fi
  set -- redis-server "$@"
  if [[ "$(id -u)" == 0 ]]; then
    find /data \! -user redis -exec chown redis '{}' +
    exec gosu redis "$@"
  fi
fi
exec "$@"
