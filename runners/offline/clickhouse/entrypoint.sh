#!/usr/bin/env bash
# The stand-in's entrypoint, with the official clickhouse/clickhouse-server image's contract: CLICKHOUSE_USER,
# CLICKHOUSE_PASSWORD and CLICKHOUSE_DB make a user with that password and a database; on the first start (an empty
# /var/lib/clickhouse) every *.sql, *.sql.gz and *.sh file of /docker-entrypoint-initdb.d runs, in name order, as
# that user; the server listens on every interface (8123 HTTP, 9000 native) and runs as user clickhouse (uid 101).
# The server is Debian's ClickHouse 18.16 (runners/offline/README.md says what differs from 25.8).
set -euo pipefail
DATA=/var/lib/clickhouse
USER_NAME="${CLICKHOUSE_USER:-default}"
PASSWORD="${CLICKHOUSE_PASSWORD:-}"
DB="${CLICKHOUSE_DB:-}"

drop_privs() { if [[ "$(id -u)" == 0 ]]; then exec gosu clickhouse "$@"; else exec "$@"; fi; }
xml_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' <<< "$1"; }

# As the official entrypoint: no arguments or only --options run the server (the options passed on to it); anything
# else is a command of its own.
server_args=()
if [[ $# -eq 0 || "${1:-}" == --* ]]; then server_args=("$@");
elif [[ "$1" == clickhouse-server ]]; then shift; server_args=("$@");
else exec "$@"; fi

if [[ "$(id -u)" == 0 ]]; then
  mkdir -p "$DATA" /var/log/clickhouse-server
  chown -R clickhouse:clickhouse "$DATA" /var/log/clickhouse-server
fi

# The user the variables name, reachable from anywhere with its password (the default user, if that is the one named;
# otherwise the default user stays, with no password, on the container's loopback only).
digest="$(printf '%s' "$PASSWORD" | sha256sum | cut -d' ' -f1)"
name="$(xml_escape "$USER_NAME")"
{
  echo '<yandex><users>'
  if [[ "$USER_NAME" != default ]]; then
    echo '<default><networks replace="replace"><ip>::1</ip><ip>127.0.0.1</ip></networks></default>'
  fi
  echo "<${name}><password_sha256_hex>${digest}</password_sha256_hex>"
  echo '<networks replace="replace"><ip>::/0</ip></networks><profile>default</profile><quota>default</quota>'
  echo "</${name}></users></yandex>"
} > /etc/clickhouse-server/users.d/docker-user.xml

first_start=false
[[ -z "$(ls -A "$DATA" 2>/dev/null | grep -v -E '^(lost\+found)$' || true)" ]] && first_start=true

client() { clickhouse-client --host 127.0.0.1 --user "$USER_NAME" --password "$PASSWORD" "$@"; }

if $first_start && { [[ -n "$DB" ]] || [[ -n "$(ls -A /docker-entrypoint-initdb.d 2>/dev/null || true)" ]]; }; then
  echo "ClickHouse: first start, initialising (database ${DB:-none}, /docker-entrypoint-initdb.d)"
  gosu clickhouse clickhouse-server --config-file=/etc/clickhouse-server/config.xml -- --listen_host=127.0.0.1 &
  pid=$!
  for _ in $(seq 1 60); do
    client --query 'SELECT 1' >/dev/null 2>&1 && break
    sleep 1
  done
  client --query 'SELECT 1' >/dev/null
  if [[ -n "$DB" ]]; then client --query "CREATE DATABASE IF NOT EXISTS \`${DB}\`"; fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) echo "running $f"; if [[ -x "$f" ]]; then "$f"; else . "$f"; fi ;;
      *.sql) echo "running $f"; client --multiquery < "$f" ;;
      *.sql.gz) echo "running $f"; gunzip -c "$f" | client --multiquery ;;
      *) [[ -e "$f" ]] && echo "ignoring $f" ;;
    esac
  done
  kill "$pid"; wait "$pid" || true
fi

drop_privs clickhouse-server --config-file=/etc/clickhouse-server/config.xml "${server_args[@]}"
