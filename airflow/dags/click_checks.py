"""Checks of the ClickHouse table against what the pipeline must have written. Standard library only: ClickHouse's
HTTP interface, because clickhouse-connect cannot connect to ClickHouse 18.16, the server the tests run
(docs/limits.md).

Used by the streaming_pipeline DAG's verify task and, as a command, by scripts/demo.sh:
    python3 airflow/dags/click_checks.py EXPECTED.json [--table analytics.product_clicks] [--clickhouse URL]
"""
from __future__ import annotations

import argparse
import base64
import json
import re
import ssl
import sys
import urllib.request

_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def load_oracle(path: str) -> dict:
    """The generator's --expected file."""
    with open(path) as f:
        return json.load(f)


def expected_counts(oracle: dict) -> dict[tuple[int, int], int]:
    return {(c["product_id"], c["window_start"]): c["count"] for c in oracle["counts"]}


def final_rows(clickhouse: str, table: str, start_ms: int, end_ms: int, user: str | None = None,
               password: str | None = None, cafile: str | None = None) -> list[tuple[int, int, int, int]]:
    """(product_id, window start, window end, count) of the FINAL view for windows starting in [start, end).
    `clickhouse` may be an https:// URL; `cafile` is then a PEM file of the certificates to trust (else the system's)."""
    if not _TABLE.fullmatch(table):
        raise ValueError(f"table must be database.table, plain identifiers, not {table!r}")
    sql = (f"SELECT product_id, timestamp, window_end, count FROM {table} FINAL "
           f"WHERE timestamp >= {int(start_ms)} AND timestamp < {int(end_ms)} "
           f"ORDER BY timestamp, product_id FORMAT TabSeparated")
    return [tuple(int(v) for v in line.split("\t")) for line in _query(clickhouse, sql, user, password, cafile)]


def settled_mark(clickhouse: str, table: str, topic: str, user: str | None = None, password: str | None = None,
                 cafile: str | None = None) -> dict | None:
    """The newest settled mark of `topic` in `<table>_settled` ({settled_from, settled_to, written_at}, epoch ms), or
    None when no settling run has written one: every window before settled_to is final."""
    if not _TABLE.fullmatch(table):
        raise ValueError(f"table must be database.table, plain identifiers, not {table!r}")
    if not _TOPIC.fullmatch(topic):
        raise ValueError(f"not a Kafka topic name: {topic!r}")
    lines = _query(clickhouse, f"SELECT settled_from, settled_to, written_at FROM {table}_settled "
                               f"WHERE input_topic = '{topic}' ORDER BY settled_to DESC, written_at DESC LIMIT 1 "
                               f"FORMAT TabSeparated", user, password, cafile)
    if not lines:
        return None
    settled_from, settled_to, written_at = (int(v) for v in lines[0].split("\t"))
    return {"settled_from": settled_from, "settled_to": settled_to, "written_at": written_at}


def _query(clickhouse: str, sql: str, user: str | None, password: str | None, cafile: str | None) -> list[str]:
    request = urllib.request.Request(clickhouse, data=sql.encode())
    if user:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=cafile) if clickhouse.startswith("https:") else None
    with urllib.request.urlopen(request, timeout=30, context=context) as response:
        return [line for line in response.read().decode().splitlines() if line]


def differences(expected: dict[tuple[int, int], int], rows) -> list[str]:
    """One sentence per (product, window) whose count differs from the oracle's; empty when all match."""
    actual = {(p, w): c for p, w, _, c in rows}
    return [f"product {p}, window starting {w} (epoch ms): expected {expected.get((p, w), 0)}, "
            f"ClickHouse has {actual.get((p, w), 0)}"
            for p, w in sorted(expected.keys() | actual.keys())
            if expected.get((p, w)) != actual.get((p, w))]


def sanity_problems(rows, window_ms: int, start_ms: int, end_ms: int) -> list[str]:
    """What must hold without an oracle: counts are positive, windows have the configured size and lie inside the
    interval. No rows is no problem: real producers may leave a minute without clicks."""
    problems = []
    for p, w, e, c in rows:
        if c <= 0:
            problems.append(f"product {p}, window {w}: count {c} is not positive")
        if e - w != window_ms:
            problems.append(f"product {p}, window {w}: window end {e} is not start + {window_ms} ms")
        if not start_ms <= w < end_ms:
            problems.append(f"product {p}, window {w}: outside [{start_ms}, {end_ms})")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description="Compare ClickHouse's FINAL view with the generator's oracle.")
    parser.add_argument("expected")
    parser.add_argument("--table", default="analytics.product_clicks")
    parser.add_argument("--clickhouse", default="http://127.0.0.1:8123/")
    parser.add_argument("--cafile", help="PEM certificates to trust for an https:// --clickhouse")
    args = parser.parse_args()
    oracle = load_oracle(args.expected)
    expected = expected_counts(oracle)
    size = oracle["window_size_ms"]
    rows = final_rows(args.clickhouse, args.table, oracle["from"] // size * size, oracle["to"], cafile=args.cafile)
    wrong = differences(expected, rows)
    if not wrong:
        print(f"ClickHouse matches the generator's oracle: {len(expected):,} (product, window) counts, "
              f"{sum(expected.values()):,} clicks")
        return 0
    print(f"ClickHouse differs from the oracle in {len(wrong):,} of {len(expected):,} (product, window) counts:")
    print("\n".join("  " + line for line in wrong[:10]))
    return 1


if __name__ == "__main__":
    sys.exit(main())
