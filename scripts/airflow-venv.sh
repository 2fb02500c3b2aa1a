#!/usr/bin/env bash
# Creates (or brings up to date) the Python virtualenv Airflow runs in: .venv-airflow, from airflow/requirements.txt
# pinned by airflow/constraints.txt. Prints the venv's path. Needs python3 (3.11) with the venv module.
set -euo pipefail
if [[ "${1:-}" == --help || "${1:-}" == -h ]]; then sed -n '2,/^set -/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0; fi  # the header above, nothing run
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${AIRFLOW_VENV:-$repo/.venv-airflow}"
stamp="$venv/.installed-from"
want="$(cat "$repo/airflow/requirements.txt" "$repo/airflow/constraints.txt" | sha256sum | cut -c1-16)"
if [[ ! -x "$venv/bin/airflow" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "[airflow-venv] installing Airflow into $venv (a few minutes the first time)" >&2
  python3 -m venv "$venv" >&2 || { echo "python3 -m venv failed: install python3-venv" >&2; exit 1; }
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q -r "$repo/airflow/requirements.txt" -c "$repo/airflow/constraints.txt" >&2
  echo "$want" > "$stamp"
fi
echo "$venv"
