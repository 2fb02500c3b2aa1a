"""click_checks over ClickHouse's HTTPS port: the checks the DAG and the demo run build their own URLs,
so they must reach a ClickHouse that only speaks TLS, trusting a given certificate, and refuse one they cannot
trust. Uses the local stack's HTTPS port and the self-signed certificate local-stack.sh made for it."""
import os
import ssl
import time
import urllib.error
import urllib.request

import pytest

import click_checks

pytestmark = pytest.mark.services

HTTPS = os.environ.get("CLICK_CLICKHOUSE_HTTPS", "https://127.0.0.1:8443/")
CA_FILE = os.environ.get("CLICK_CLICKHOUSE_CA_FILE", "")
TABLE = f"analytics.tls_check_{format(int(time.time() * 1000), 'x')}"


def run(sql):
    context = ssl.create_default_context(cafile=CA_FILE)
    urllib.request.urlopen(urllib.request.Request(HTTPS, data=sql.encode()), timeout=30, context=context).read()


def test_final_rows_over_https_with_the_servers_certificate():
    if not os.path.exists(CA_FILE):
        pytest.fail(f"no ClickHouse certificate at {CA_FILE!r}: start the stack with services/local-stack.sh and set "
                    "CLICK_CLICKHOUSE_CA_FILE (scripts/test.sh does)")
    run("CREATE DATABASE IF NOT EXISTS analytics")
    run(f"CREATE TABLE {TABLE} (product_id UInt32, timestamp UInt64, window_end UInt64, count UInt64) "
        "ENGINE = ReplacingMergeTree(count) ORDER BY (product_id, timestamp)")
    run(f"INSERT INTO {TABLE} VALUES (7, 60000, 120000, 3), (7, 60000, 120000, 5)")
    assert click_checks.final_rows(HTTPS, TABLE, 0, 120000, cafile=CA_FILE) == [(7, 60000, 120000, 5)]
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        click_checks.final_rows(HTTPS, TABLE, 0, 120000)  # the system's CAs do not know the self-signed certificate
    run(f"DROP TABLE {TABLE}")
