#!/usr/bin/env python3
"""Compares the ClickHouse FINAL view with the generator's oracle (--expected FILE) for the oracle's interval.

Usage: check_counts.py EXPECTED.json [--table analytics.product_clicks] [--clickhouse http://127.0.0.1:8123/]
Exit 0 and one line when every (product, window) count matches; exit 1 with the first differences otherwise.
Standard library only.
"""
import argparse
import json
import re
import sys
import urllib.request


def final_counts(clickhouse, table, start, end):
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*", table):
        sys.exit(f"--table must be database.table, not {table!r}")
    sql = (f"SELECT product_id, timestamp, count FROM {table} FINAL "
           f"WHERE timestamp >= {int(start)} AND timestamp < {int(end)} FORMAT TabSeparated")
    with urllib.request.urlopen(urllib.request.Request(clickhouse, data=sql.encode()), timeout=30) as response:
        rows = response.read().decode().splitlines()
    return {(int(p), int(w)): int(c) for p, w, c in (row.split("\t") for row in rows if row)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("expected")
    parser.add_argument("--table", default="analytics.product_clicks")
    parser.add_argument("--clickhouse", default="http://127.0.0.1:8123/")
    args = parser.parse_args()
    with open(args.expected) as f:
        oracle = json.load(f)
    expected = {(c["product_id"], c["window_start"]): c["count"] for c in oracle["counts"]}
    size = oracle["window_size_ms"]
    start = oracle["from"] // size * size
    actual = final_counts(args.clickhouse, args.table, start, oracle["to"])
    wrong = sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))
    if not wrong:
        print(f"ClickHouse matches the generator's oracle: {len(expected):,} (product, window) counts, "
              f"{sum(expected.values()):,} clicks")
        return 0
    print(f"ClickHouse differs from the oracle in {len(wrong):,} of {len(expected):,} (product, window) counts:")
    for product, window in wrong[:10]:
        print(f"  product {product}, window starting {window}: expected {expected.get((product, window))}, "
              f"ClickHouse has {actual.get((product, window))}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
