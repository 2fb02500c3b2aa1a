"""The live dashboard in a real browser: Debian's headless chromium, driven through its chromedriver by Selenium,
opens the page of a dashboard server (the bundled jar) that reads its own table and dead-letter topic on the local
stack, while bounded runs of the real pipeline write known data. What a person would see must equal the generator's
oracle: the chart's series (top products over the windows shown), the newest window's table with its pane, the dead
letters per window; and the page must move on by itself when a later window arrives.

DASHBOARD_SCREENSHOT=path/to.png saves the page as docs/dashboard.md shows it (the committed docs/dashboard.png)."""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "airflow", "dags"))
import click_checks  # noqa: E402

pytestmark = pytest.mark.services

RUN = format(int(time.time() * 1000), "x")
KAFKA = os.environ.get("CLICK_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
CLICKHOUSE = os.environ.get("CLICK_CLICKHOUSE_HTTP", "http://127.0.0.1:8123/")
CLICKHOUSE_JDBC = os.environ.get("CLICK_CLICKHOUSE_JDBC_URL", "jdbc:clickhouse://127.0.0.1:8123/default")
JARS = {name: os.path.join(REPO, name, "target", f"click-{name}-bundled-0.1.0-SNAPSHOT.jar")
        for name in ("pipeline", "generator", "dashboard")}
TOPIC = f"dash_clicks_{RUN}"
TABLE = f"analytics.dash_{RUN}"
PRODUCTS = 5
MINUTE = 60_000


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def generate_and_count(start_ms, minutes, tmp_path):
    """Clicks for [start, start + minutes) into the test's topic (Zipf popularity, late and malformed ones), then a
    bounded pipeline run over that interval on the DirectRunner; returns the generator's oracle."""
    expected = tmp_path / f"expected-{start_ms}.json"
    subprocess.run(["java", "-Xmx256m", "-jar", JARS["generator"], "--bootstrap-servers", KAFKA, "--topic", TOPIC,
                    "--start", iso(start_ms), "--duration", f"PT{minutes}M", "--rate", "100", "--products", "20",
                    "--popularity", "zipf:1.1", "--late-fraction", "0.05", "--late-delay", "PT90S",
                    "--malformed-fraction", "0.02", "--seed", str(start_ms), "--expected", str(expected)],
                   check=True, timeout=300)
    subprocess.run(["java", "-Xmx768m", "-jar", JARS["pipeline"], f"--bootstrapServers={KAFKA}",
                    f"--clickHouseUrl={CLICKHOUSE_JDBC}", f"--inputTopic={TOPIC}", f"--outputTopic={TOPIC}_agg",
                    f"--deadLetterTopic={TOPIC}_dlq", f"--clickHouseTable={TABLE}", f"--from={iso(start_ms)}",
                    f"--to={iso(start_ms + minutes * MINUTE)}"], check=True, timeout=600)
    return click_checks.load_oracle(str(expected))


@pytest.fixture(scope="module")
def dashboard():
    try:
        urllib.request.urlopen(CLICKHOUSE + "ping", timeout=5).read()
    except OSError as e:
        pytest.fail(f"the local stack is not running ({e}): start it with services/local-stack.sh start")
    for jar in JARS.values():
        if not os.path.exists(jar):
            pytest.fail(f"{jar} is missing: build it with mvn package first (scripts/test.sh does)")
    server = subprocess.Popen(["java", "-Xmx128m", "-jar", JARS["dashboard"], "--port=0", f"--table={TABLE}",
                               f"--dead-letter-topic={TOPIC}_dlq", f"--bootstrap-servers={KAFKA}",
                               f"--clickhouse-http={CLICKHOUSE}"], stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    assert match, f"the dashboard did not start: {line!r}"
    yield f"http://127.0.0.1:{match.group(1)}/"
    server.terminate()
    server.wait(30)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1300"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    yield driver
    driver.quit()


def wait_for(driver, condition, what, seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        value = driver.execute_script(condition)
        if value:
            return value
        if time.monotonic() > deadline:
            state = driver.execute_script("return JSON.stringify({error: dashboard.error, answer: dashboard.answer})")
            raise AssertionError(f"the page never showed {what}; it has {state}")
        time.sleep(0.5)


def seen_table(driver):
    """The newest window's table as a person reads it: product, clicks, pane."""
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#newest tbody tr')].map(r => [...r.cells].map(c => c.textContent))")
    return [(int(r[0]), int(r[1].replace(",", "")), r[2]) for r in rows]


def expected_table(oracle, window_start):
    cells = sorted(((c["count"], c["product_id"]) for c in oracle["counts"] if c["window_start"] == window_start),
                   key=lambda c: (-c[0], c[1]))
    return [(product, count, "on-time") for count, product in cells[:PRODUCTS]]


def test_the_page_shows_the_oracles_counts_and_moves_on_with_a_later_window(dashboard, browser, tmp_path):
    start = (int(time.time() * 1000) // MINUTE - 10) * MINUTE
    first = generate_and_count(start, 3, tmp_path)
    windows = [start + i * MINUTE for i in range(3)]

    browser.get(f"{dashboard}?windows=10&products={PRODUCTS}&refresh=1")
    wait_for(browser, "return dashboard.answer && dashboard.answer.windows.length === 3", "three windows")

    # The chart: one series per top product over the windows shown, by clicks over those windows, per window.
    totals = {}
    for c in first["counts"]:
        totals[c["product_id"]] = totals.get(c["product_id"], 0) + c["count"]
    top = sorted(totals, key=lambda p: (-totals[p], p))[:PRODUCTS]
    counts = click_checks.expected_counts(first)
    labels = browser.execute_script("return dashboard.countsChart.chart.series.slice(1).map(s => s.label)")
    assert labels == [f"product {p}" for p in top]
    data = browser.execute_script("return dashboard.countsChart.chart.data")
    assert data[0] == [w / 1000 for w in windows]
    assert data[1:] == [[counts.get((p, w), 0) for w in windows] for p in top]

    # The newest window's table, with each row's pane: a bounded run fires each window once, on time.
    assert seen_table(browser) == expected_table(first, windows[-1])
    shown = browser.find_element("id", "newest-window").text
    assert shown.startswith("[") and browser.find_element("id", "newest-window").get_attribute("data-start") == \
        str(windows[-1])

    # Dead letters per window by reason: the malformed ones equal the oracle's (too_late ones are counted apart).
    dead = browser.execute_script(
        "return dashboard.deadChart.chart.series.slice(1).map((s, i) => [s.label, dashboard.deadChart.chart.data[i + 1]])")
    malformed = sum(sum(values) for reason, values in dead if reason != "too_late")
    assert malformed == first["malformed"], dead
    assert browser.find_element("id", "lag").text.endswith(("s", "min"))

    # The settled mark beside the newest window: none from these plain bounded runs; then a settling run's row.
    assert browser.find_element("id", "settled").text.startswith("no settled mark")
    urllib.request.urlopen(urllib.request.Request(CLICKHOUSE, data=(
        f"INSERT INTO {TABLE}_settled (input_topic, settled_from, settled_to, cuts, written_at) VALUES "
        f"('{TOPIC}', {windows[0]}, {windows[2]}, '', {int(time.time() * 1000)})").encode()), timeout=30).read()
    wait_for(browser, f"return dashboard.answer.settledTo === {windows[2]}", "the settled mark")
    wait_for(browser, "return document.getElementById('settled').textContent.includes(\"60.0 s before the newest\")",
             "the settled mark a window before the newest window's end")

    timing = browser.execute_script("""
        const nav = performance.getEntriesByType('navigation')[0];
        const resources = performance.getEntriesByType('resource').filter(r => !r.name.includes('/api/'));
        return {load_ms: nav.loadEventEnd - nav.startTime,
                bytes: nav.encodedBodySize + resources.reduce((s, r) => s + r.encodedBodySize, 0),
                files: 1 + resources.length}""")
    print(f"dashboard page: loaded in {timing['load_ms']:.0f} ms, {timing['files']} files, {timing['bytes']:,} bytes")
    screenshot = os.environ.get("DASHBOARD_SCREENSHOT")
    if screenshot:
        browser.save_screenshot(screenshot)

    # A later window arrives: the page takes it on its own (no reload), in the chart and the table.
    updates = browser.execute_script("return dashboard.updates")
    later = generate_and_count(start + 3 * MINUTE, 1, tmp_path)
    wait_for(browser, f"return dashboard.answer.windows.length === 4 && dashboard.countsChart.chart.data[0].length === 4"
                      f" && document.getElementById('newest-window').dataset.start === '{start + 3 * MINUTE}'",
             "the fourth window")
    assert browser.execute_script("return dashboard.updates") > updates
    assert seen_table(browser) == expected_table(later, start + 3 * MINUTE)
    later_counts = click_checks.expected_counts(later)
    data = browser.execute_script("return dashboard.countsChart.chart.data")
    labels = browser.execute_script("return dashboard.countsChart.chart.series.slice(1).map(s => s.label)")
    for label, values in zip(labels, data[1:]):
        product = int(label.split()[1])
        assert values[3] == later_counts.get((product, start + 3 * MINUTE), 0), (label, values)
