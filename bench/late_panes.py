"""What late clicks cost the sinks: late aggregates written per late click counted, and ClickHouse inserts per minute.

For each jar: a continuous job on the local Flink session cluster reads a fresh topic while the generator writes
clicks at wall-clock pace (Zipf popularity, a fraction of them late by a fixed delay) into 10 s windows; once the last
late click's window has closed, the launcher is stopped (SIGTERM). Then it counts the aggregates on the output topic
by pane timing, and takes the late clicks counted from the generator's oracle; ClickHouse's InsertQuery event counter
gives the inserts made during the run (every insert makes at least one part ClickHouse must merge).

    python3 bench/late_panes.py --jar pipeline/target/click-pipeline-bundled-0.1.0-SNAPSHOT.jar [--jar <older jar>]
        [--options=--hotKeyFanout=1 --options=--hotKeyFanout=4]

With --options, every jar runs once per value, each value's pipeline options added to the job's command line.

Needs the local stack (services/local-stack.sh start) and the generator's jar. Not part of the tests.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from continuous_job import GENERATOR_JAR, KAFKA, REPO, start

CLICKHOUSE = os.environ.get("CLICK_CLICKHOUSE_HTTP", "http://127.0.0.1:8123/")
STACK = os.path.join(REPO, "services", "local-stack.sh")


def clickhouse(sql: str) -> str:
    return urllib.request.urlopen(urllib.request.Request(CLICKHOUSE, data=sql.encode()), timeout=60).read().decode()


def inserts() -> int:
    return int(clickhouse("SELECT value FROM system.events WHERE event = 'InsertQuery' FORMAT TabSeparated") or 0)


def aggregates_by_timing(topic: str) -> dict:
    out = subprocess.run([STACK, "kafka-tool", "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server",
                          KAFKA, "--topic", topic, "--from-beginning", "--timeout-ms", "15000"],
                         capture_output=True, text=True, timeout=300).stdout
    timings = {}
    for line in out.splitlines():
        if line.startswith("{"):
            timing = json.loads(line)["pane_timing"]
            timings[timing] = timings.get(timing, 0) + 1
    return timings


def run(jar: str, options: list, label: str, args) -> dict:
    tag = f"lp{int(time.time())}{label}"
    topic, table, group = f"{tag}_clicks", f"analytics.{tag}", f"{tag}_group"
    launcher, log, _ = start(jar, group, [f"--inputTopic={topic}", f"--outputTopic={topic}_agg",
                                          f"--deadLetterTopic={topic}_dlq", f"--clickHouseTable={table}",
                                          "--windowSize=PT10S", "--allowedLateness=PT60S", *options],
                             f"late-panes-{label}-")
    before = inserts()
    started = time.monotonic()
    generated = subprocess.run(["java", "-Xmx512m", "-jar", GENERATOR_JAR, "--bootstrap-servers", KAFKA,
                                "--topic", topic, "--rate", str(args.rate), "--pace", "real", "--duration",
                                f"PT{args.seconds}S", "--popularity", "zipf:1.1", "--late-fraction",
                                str(args.late_fraction), "--late-delay", "PT30S", "--window-size", "PT10S",
                                "--allowed-lateness", "PT60S", "--seed", "7"],
                               capture_output=True, text=True, timeout=args.seconds + 600)
    oracle = re.search(r"oracle: ([\d,]+) counted .*?([\d,]+) late of which ([\d,]+) too late", generated.stderr)
    if generated.returncode != 0 or not oracle:
        sys.exit(f"{label}: the generator failed:\n{generated.stderr[-2000:]}")
    time.sleep(args.settle)  # the last late clicks' windows close (lateness 60 s), their panes fire
    minutes = (time.monotonic() - started) / 60
    made = inserts() - before
    launcher.send_signal(signal.SIGTERM)
    launcher.wait(400)
    counted = int(oracle.group(1).replace(",", ""))
    late_counted = int(oracle.group(2).replace(",", "")) - int(oracle.group(3).replace(",", ""))
    timings = aggregates_by_timing(f"{topic}_agg")
    result = {"jar": label, "options": options, "clicks counted": counted, "late clicks counted": late_counted,
              "aggregates by timing": timings,
              "late aggregates per late click": round(timings.get("LATE", 0) / max(late_counted, 1), 3),
              "ClickHouse inserts per minute": round(made / minutes, 1), "log": log}
    print(json.dumps(result), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jar", action="append", required=True, help="a bundled pipeline jar; give two to compare")
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--late-fraction", type=float, default=0.1)
    parser.add_argument("--settle", type=int, default=80, help="seconds to wait after the generator before stopping")
    parser.add_argument("--options", action="append", default=None,
                        help="pipeline options for a run of each jar, space-separated; give several to compare")
    args = parser.parse_args()
    for i, jar in enumerate(args.jar):
        for j, options in enumerate(args.options or [""]):
            run(jar, options.split(), chr(ord("a") + i) + (str(j) if args.options else ""), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
