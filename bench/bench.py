#!/usr/bin/env python3
"""The performance benchmark of issue 6, in one run on the local Kafka and ClickHouse. Standard library only.

Run it through bench/run.sh, which builds the jars and starts the services first:
    bench/run.sh quick      # about 1 M events per input, a few minutes
    bench/run.sh full       # 10 M events per input

What it measures, in this order, on the same machine and broker:
  1. the generator's rate against Kafka's ProducerPerformance with the same record size and producer settings
     (alternating repetitions); the generator's first repetition writes the benchmark's input topic;
  2. the raw consume rate of that topic with Kafka's ConsumerPerformance;
  3. the pipeline's bounded run over the same topic: events/s from the pipeline's start to all rows written to
     both sinks (the run ends only after both have flushed), its ratio to (2), and the pipeline JVM's peak RSS;
     every run's ClickHouse table is compared with the generator's oracle;
  4. continuous mode with the generator at a steady 20,000 clicks/s: per window, the time from window end +
     maxOutOfOrderness (wall clock) until ClickHouse shows the window's complete count; p50/p99/max.
Each figure is the median over the repetitions, with min and max. Results: a table on stdout and a JSON file.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "airflow", "dags"))
import click_checks  # noqa: E402  (the oracle comparison the DAG and the demo use)

STACK = os.path.join(REPO, "services", "local-stack.sh")
PIPELINE_JAR = os.path.join(REPO, "pipeline", "target", "click-pipeline-bundled-0.1.0-SNAPSHOT.jar")
GENERATOR_JAR = os.path.join(REPO, "generator", "target", "click-generator-bundled-0.1.0-SNAPSHOT.jar")

MODES = {
    # events per bounded input, event-time span of the input, repetitions, latency runs and their length
    "quick": dict(events=1_000_000, reps=3, latency_runs=2, latency_seconds=50),
    "full": dict(events=10_000_000, reps=3, latency_runs=3, latency_seconds=60),
}
INPUT_SPAN_S = 60           # the input's event times cover 60 s ...
INPUT_WINDOW = "PT10S"       # ... in 10 s windows (the reference workload)
LATENCY_RATE = 20_000       # clicks/s in the latency runs
LATENCY_WINDOW_MS = 2_000   # 2 s windows: 25 windows in 50 s
MAX_OUT_OF_ORDERNESS_MS = 1_000
WARMUP_WINDOWS = 2          # the first windows of a latency run see a JVM that is still compiling: not counted

# The producer settings of the generator (ClickGenerator.producerProperties), given to ProducerPerformance too.
PRODUCER_PROPS = ["acks=all", "enable.idempotence=true", "linger.ms=10", "batch.size=262144",
                  "buffer.memory=67108864"]
PIPELINE_HEAP = "1g"        # the README's -Xmx for the pipeline (pipeline.heap in pipeline/pom.xml)
GENERATOR_HEAP = "512m"     # generator.heap in generator/pom.xml

TARGETS = {
    "bounded_ratio_min": 0.30,
    "latency_p99_max_s": 2.0,
    "peak_rss_max_mb": 1536,
    "generator_ratio_min": 0.8,
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], timeout: float = 1800, env: dict | None = None) -> str:
    """Runs a command, returns stdout+stderr; a non-zero exit is an error that shows the output's tail."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                          env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}... exited {proc.returncode}:\n{proc.stdout[-3000:]}")
    return proc.stdout


def kafka_tool(*args: str, timeout: float = 1800) -> str:
    return run([STACK, "kafka-tool", *args], timeout=timeout)


class ClickHouse:
    def __init__(self, url: str):
        self.url = url.rstrip("/") + "/"

    def query(self, sql: str) -> str:
        with urllib.request.urlopen(urllib.request.Request(self.url, data=sql.encode()), timeout=30) as r:
            return r.read().decode()


def summary_stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


class RssWatcher(threading.Thread):
    """Polls a process's VmHWM (peak resident set) every 100 ms; the last reading before exit is its peak."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except (FileNotFoundError, ProcessLookupError):
                return
            self.stop.wait(0.1)


class Bench:
    def __init__(self, args):
        self.mode = dict(MODES[args.mode])
        self.mode["latency_runs"] = args.latency_runs or self.mode["latency_runs"]
        self.mode["latency_seconds"] = args.latency_seconds or self.mode["latency_seconds"]
        self.mode_name = args.mode
        self.events = args.events or self.mode["events"]
        self.reps = args.reps or self.mode["reps"]
        self.bootstrap = args.bootstrap_servers
        self.clickhouse = ClickHouse(args.clickhouse_http)
        self.work = args.work_dir
        os.makedirs(self.work, exist_ok=True)
        self.run_id = time.strftime("%Y%m%d%H%M%S")
        self.input_topic = f"bench_clicks_{self.run_id}"
        self.results: dict = {"mode": args.mode, "events": self.events, "repetitions": self.reps,
                              "run_id": self.run_id, "targets": TARGETS}

    # ---------------------------------------------------------------- environment
    def versions(self) -> dict:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
        classpath = os.path.join(REPO, ".local-stack", "kafka", "classpath.txt")
        found = re.search(r"kafka_2\.13-([\d.]+)\.jar", open(classpath).read()) if os.path.exists(classpath) else None
        kafka = found.group(1) if found else "unknown"
        with open(os.path.join(REPO, "pom.xml")) as f:
            beam = re.search(r"<beam.version>([^<]+)</beam.version>", f.read()).group(1)
        meminfo = open("/proc/meminfo").readline().split()[1]
        return {"java": java, "beam": beam, "runner": "DirectRunner", "kafka_broker": kafka,
                "clickhouse": self.clickhouse.query("SELECT version()").strip(),
                "cpus": os.cpu_count(), "memory_gb": round(int(meminfo) / 1024 / 1024, 1),
                "kernel": platform.release(), "python": platform.python_version()}

    # ---------------------------------------------------------------- 1. generator vs ProducerPerformance
    def generate(self, topic: str, count: int, rate: float, start: str, window: str, extra: list[str],
                 expected: str | None = None, pace: str = "max") -> float:
        cmd = ["java", f"-Xmx{GENERATOR_HEAP}", "-jar", GENERATOR_JAR, "--bootstrap-servers", self.bootstrap,
               "--topic", topic, "--partitions", "2", "--products", "100", "--count", str(count),
               "--rate", str(rate), "--start", start, "--window-size", window, "--pace", pace,
               "--progress-interval", "PT10S", *extra]
        if expected:
            cmd += ["--expected", expected]
        out = run(cmd, timeout=3600)
        done = re.search(r"done: sent ([\d,]+) of .* ([\d,]+) records/s", out)
        if not done:
            raise RuntimeError("the generator printed no 'done' line:\n" + out[-2000:])
        return float(done.group(2).replace(",", ""))

    def record_size(self, topic: str) -> int:
        out = kafka_tool("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", self.bootstrap,
                         "--topic", topic, "--from-beginning", "--max-messages", "5000", "--timeout-ms", "20000")
        lines = [line for line in out.splitlines() if line.startswith("{")]
        return round(sum(len(line.encode()) for line in lines) / max(1, len(lines)))

    def producer_perf(self, topic: str, count: int, size: int) -> float:
        self.create_topic(topic)
        out = kafka_tool("org.apache.kafka.tools.ProducerPerformance", "--topic", topic, "--num-records", str(count),
                         "--record-size", str(size), "--throughput", "-1", "--producer-props",
                         f"bootstrap.servers={self.bootstrap}", *PRODUCER_PROPS)
        last = [line for line in out.splitlines() if "records sent" in line][-1]
        return float(re.search(r"([\d.]+) records/sec", last).group(1))

    def create_topic(self, topic: str) -> None:
        kafka_tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", self.bootstrap, "--create",
                   "--if-not-exists", "--topic", topic, "--partitions", "2", "--replication-factor", "1")

    def delete_topic(self, topic: str) -> None:
        kafka_tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", self.bootstrap, "--delete",
                   "--if-exists", "--topic", topic)

    def phase_generate(self) -> None:
        # The input starts on a window boundary an hour ago: old enough to be history, young enough for retention.
        start_s = (int(time.time()) - 3600) // 60 * 60
        self.input_start_ms = start_s * 1000
        self.input_end_ms = self.input_start_ms + INPUT_SPAN_S * 1000
        self.expected = os.path.join(self.work, f"expected-{self.run_id}.json")
        start = dt.datetime.fromtimestamp(start_s, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        rate = self.events / INPUT_SPAN_S
        extra = ["--popularity", "zipf:1.1", "--late-fraction", "0.02", "--late-delay", "PT30S",
                 "--malformed-fraction", "0.005"]
        self.input_desc = (f"{self.events:,} clicks, 2 partitions, 100 products (Zipf 1.1), event time over "
                           f"{INPUT_SPAN_S} s, {INPUT_WINDOW} windows, 2% late by 30 s, 0.5% malformed")
        generator, producer = [], []
        size = None
        for rep in range(self.reps):
            topic = self.input_topic if rep == 0 else f"bench_gen_{self.run_id}_{rep}"
            log(f"generator repetition {rep + 1}/{self.reps}: {self.events:,} records to {topic}")
            generator.append(self.generate(topic, self.events, rate, start, INPUT_WINDOW, extra,
                                           expected=self.expected if rep == 0 else None))
            if rep > 0:
                self.delete_topic(topic)
            if size is None:
                size = self.record_size(self.input_topic)
            pp_topic = f"bench_pp_{self.run_id}_{rep}"
            log(f"ProducerPerformance repetition {rep + 1}/{self.reps}: {self.events:,} records of {size} bytes")
            producer.append(self.producer_perf(pp_topic, self.events, size))
            self.delete_topic(pp_topic)
        self.results["input"] = self.input_desc
        self.results["record_size_bytes"] = size
        self.results["generator_records_per_s"] = summary_stats(generator)
        self.results["producer_performance_records_per_s"] = summary_stats(producer)
        self.results["generator_ratio"] = (self.results["generator_records_per_s"]["median"]
                                           / self.results["producer_performance_records_per_s"]["median"])

    # ---------------------------------------------------------------- 2. raw consume
    def phase_consume(self) -> None:
        rates = []
        for rep in range(self.reps):
            out = kafka_tool("org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", self.bootstrap,
                             "--topic", self.input_topic, "--messages", str(self.events), "--timeout", "60000",
                             "--group", f"bench-consumer-{self.run_id}-{rep}")
            header, values = None, None
            for line in out.splitlines():
                if line.startswith("start.time"):
                    header = [h.strip() for h in line.split(",")]
                elif header and values is None and re.match(r"\d{4}-", line):
                    values = [v.strip() for v in line.split(",")]
            row = dict(zip(header, values))
            # fetch.nMsg.sec: records over the time spent fetching, without the group join (the stricter baseline)
            rates.append(float(row["fetch.nMsg.sec"]))
            log(f"ConsumerPerformance repetition {rep + 1}/{self.reps}: {rates[-1]:,.0f} records/s "
                f"({float(row['nMsg.sec']):,.0f} with the group join)")
        self.results["raw_consume_records_per_s"] = summary_stats(rates)

    # ---------------------------------------------------------------- 3. bounded runs
    def jdbc_url(self, database: str) -> str:
        return (f"jdbc:clickhouse://127.0.0.1:8123/{database}?server_version=22.8.1&server_time_zone=UTC"
                f"&custom_http_params=database%3D{database}")

    def pipeline_cmd(self, *args: str) -> list[str]:
        return ["java", f"-Xmx{PIPELINE_HEAP}", "-cp", PIPELINE_JAR, "dev.clickstream.pipeline.ClickCountPipeline",
                f"--bootstrapServers={self.bootstrap}", f"--clickHouseUrl={self.jdbc_url('bench')}",
                f"--outputTopic=bench_aggregates", f"--deadLetterTopic=bench_dlq", *args]

    def phase_bounded(self) -> None:
        oracle = click_checks.load_oracle(self.expected)
        expected = click_checks.expected_counts(oracle)
        frm = dt.datetime.fromtimestamp(self.input_start_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        to = dt.datetime.fromtimestamp(self.input_end_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        rates, with_checks, walls, rss, runs = [], [], [], [], []
        for rep in range(self.reps):
            table = f"bench.bounded_{self.run_id}_{rep}"
            cmd = self.pipeline_cmd(f"--inputTopic={self.input_topic}", f"--clickHouseTable={table}",
                                    f"--windowSize={INPUT_WINDOW}", f"--from={frm}", f"--to={to}")
            log(f"bounded run {rep + 1}/{self.reps} into {table}")
            started = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            watcher = RssWatcher(proc.pid)
            watcher.start()
            out, _ = proc.communicate(timeout=3600)
            wall = time.monotonic() - started
            watcher.stop.set()
            if proc.returncode != 0:
                raise RuntimeError(f"the bounded run exited {proc.returncode}:\n{out[-3000:]}")
            line = re.search(r"click-count bounded run .*", out).group(0)
            number = lambda pattern: float(re.search(pattern, line).group(1).replace(",", ""))  # noqa: E731
            read = int(number(r"read ([\d,]+) records"))
            seconds = number(r" in ([\d.]+) s \(")
            run_seconds = number(r"of which ([\d.]+) s running")
            rows = click_checks.final_rows(self.clickhouse.url, table, self.input_start_ms, self.input_end_ms)
            wrong = click_checks.differences(expected, rows)
            # Both sinks and the dead letters, not only ClickHouse: one row and one aggregate per (product, window),
            # every malformed record dead-lettered.
            sinks = {"rows": int(number(r"wrote ([\d,]+) rows")),
                     "aggregates": int(number(r"and ([\d,]+) aggregates")),
                     "malformed": int(number(r"dead-lettered ([\d,]+) malformed"))}
            wanted = {"rows": len(expected), "aggregates": len(expected), "malformed": oracle["malformed"]}
            if sinks != wanted:
                wrong.append(f"sinks {sinks}, expected {wanted}")
            runs.append({"table": table, "records_read": read, "run_seconds": run_seconds,
                         "seconds_with_checks": seconds, "wall_seconds": wall,
                         "records_per_s": self.events / run_seconds, "peak_rss_mb": watcher.peak_kb / 1024,
                         "summary": line, "counts_equal_oracle": not wrong, "differences": wrong[:5]})
            log(f"  {line}")
            log(f"  {self.events / run_seconds:,.0f} events/s from Pipeline.run to all rows written "
                f"({self.events / seconds:,.0f} with the checks and graph building, {self.events / wall:,.0f} with "
                f"JVM start), peak RSS {watcher.peak_kb / 1024:,.0f} MB, counts {'= oracle' if not wrong else 'DIFFER'}")
            rates.append(self.events / run_seconds)
            with_checks.append(self.events / seconds)
            walls.append(self.events / wall)
            rss.append(watcher.peak_kb / 1024)
        self.results["bounded_runs"] = runs
        self.results["bounded_records_per_s"] = summary_stats(rates)
        self.results["bounded_records_per_s_with_checks"] = summary_stats(with_checks)
        self.results["bounded_records_per_s_with_jvm_start"] = summary_stats(walls)
        self.results["bounded_ratio"] = (self.results["bounded_records_per_s"]["median"]
                                         / self.results["raw_consume_records_per_s"]["median"])
        self.results["bounded_peak_rss_mb"] = summary_stats(rss)
        self.results["bounded_counts_equal_oracle"] = all(r["counts_equal_oracle"] for r in runs)

    # ---------------------------------------------------------------- 4. latency in continuous mode
    def phase_latency(self) -> None:
        runs, pooled, rss = [], [], []
        for rep in range(self.mode["latency_runs"]):
            runs.append(self.latency_run(rep))
            pooled += runs[-1]["latencies_s"]
            rss.append(runs[-1]["peak_rss_mb"])
        self.results["latency_runs"] = runs
        self.results["latency_s"] = {
            "windows": len(pooled), "p50": percentile(pooled, 50), "p99": percentile(pooled, 99),
            "max": max(pooled), "p99_per_run": [r["p99"] for r in runs]}
        self.results["latency_counts_equal_oracle"] = all(r["counts_equal_oracle"] for r in runs)
        self.results["continuous_peak_rss_mb"] = summary_stats(rss)

    def latency_run(self, rep: int) -> dict:
        topic = f"bench_live_{self.run_id}_{rep}"
        table = f"bench.live_{self.run_id}_{rep}"
        expected_file = os.path.join(self.work, f"expected-live-{self.run_id}-{rep}.json")
        self.create_topic(topic)
        cmd = self.pipeline_cmd(f"--inputTopic={topic}", f"--clickHouseTable={table}",
                                f"--consumerGroup=bench-live-{self.run_id}-{rep}",
                                f"--windowSize=PT{LATENCY_WINDOW_MS / 1000:g}S",
                                f"--maxOutOfOrderness=PT{MAX_OUT_OF_ORDERNESS_MS / 1000:g}S")
        log(f"latency run {rep + 1}/{self.mode['latency_runs']}: continuous pipeline on {topic}, "
            f"{LATENCY_RATE:,} clicks/s for {self.mode['latency_seconds']} s, {LATENCY_WINDOW_MS} ms windows")
        out_path = os.path.join(self.work, f"live-{self.run_id}-{rep}.log")
        with open(out_path, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        watcher = RssWatcher(proc.pid)
        watcher.start()
        try:
            self.wait_for_table(table, proc, out_path)
            seen: dict[int, list[tuple[float, int]]] = {}
            stop = threading.Event()
            poller = threading.Thread(target=self.poll_windows, args=(table, seen, stop), daemon=True)
            poller.start()
            start_s = int(time.time()) + 1  # the generator starts on the next whole second
            self.generate(topic, LATENCY_RATE * self.mode["latency_seconds"], LATENCY_RATE,
                          dt.datetime.fromtimestamp(start_s, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                          f"PT{LATENCY_WINDOW_MS / 1000:g}S", ["--arrival-jitter", "PT0.5S"], expected=expected_file,
                          pace="real")
            time.sleep((MAX_OUT_OF_ORDERNESS_MS + 2 * LATENCY_WINDOW_MS) / 1000 + 3)
            stop.set()
            poller.join()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            watcher.stop.set()
        oracle = click_checks.load_oracle(expected_file)
        expected = click_checks.expected_counts(oracle)
        per_window: dict[int, int] = {}
        for (_, window), count in expected.items():
            per_window[window] = per_window.get(window, 0) + count
        windows = sorted(per_window)[WARMUP_WINDOWS:]
        latencies, missing = [], []
        for window in windows:
            complete = next((t for t, total in seen.get(window, []) if total == per_window[window]), None)
            if complete is None:
                missing.append(window)
                continue
            deadline = (window + LATENCY_WINDOW_MS + MAX_OUT_OF_ORDERNESS_MS) / 1000
            latencies.append(complete - deadline)
        rows = click_checks.final_rows(self.clickhouse.url, table, min(per_window), max(per_window) + 1)
        wrong = click_checks.differences(expected, rows)
        result = {"topic": topic, "table": table, "clicks": oracle["counted"], "windows_measured": len(latencies),
                  "windows_never_complete": missing, "latencies_s": latencies,
                  "p50": percentile(latencies, 50) if latencies else None,
                  "p99": percentile(latencies, 99) if latencies else None,
                  "max": max(latencies) if latencies else None, "peak_rss_mb": watcher.peak_kb / 1024,
                  "counts_equal_oracle": not wrong and not missing, "differences": wrong[:5], "log": out_path}
        log(f"  {len(latencies)} windows: p50 {result['p50']} s, p99 {result['p99']} s, max {result['max']} s, "
            f"counts {'= oracle' if result['counts_equal_oracle'] else 'DIFFER'}")
        self.delete_topic(topic)
        return result

    def wait_for_table(self, table: str, proc: subprocess.Popen, log_path: str) -> None:
        database, name = table.split(".")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the continuous pipeline exited {proc.returncode}; see {log_path}")
            exists = self.clickhouse.query(f"EXISTS TABLE {database}.{name}").strip()
            if exists == "1":
                time.sleep(3)  # the table is made before the graph is built and the reader is assigned
                return
            time.sleep(0.2)
        raise RuntimeError(f"the continuous pipeline did not create {table} within 120 s; see {log_path}")

    def poll_windows(self, table: str, seen: dict, stop: threading.Event) -> None:
        """Every 50 ms: each window's total in ClickHouse's FINAL view, with the wall time it was first seen."""
        sql = f"SELECT timestamp, sum(count) FROM {table} FINAL GROUP BY timestamp FORMAT TabSeparated"
        while not stop.is_set():
            now = time.time()
            for line in self.clickhouse.query(sql).splitlines():
                window, total = (int(v) for v in line.split("\t"))
                history = seen.setdefault(window, [])
                if not history or history[-1][1] != total:
                    history.append((now, total))
            stop.wait(0.05)

    # ---------------------------------------------------------------- report
    def verdicts(self) -> dict:
        r = self.results
        return {
            "bounded_ratio": r["bounded_ratio"] >= TARGETS["bounded_ratio_min"] and r["bounded_counts_equal_oracle"],
            "latency_p99": r["latency_s"]["p99"] <= TARGETS["latency_p99_max_s"] and r["latency_counts_equal_oracle"],
            "peak_rss": r["bounded_peak_rss_mb"]["max"] <= TARGETS["peak_rss_max_mb"],
            "generator_ratio": r["generator_ratio"] >= TARGETS["generator_ratio_min"],
        }

    def table(self) -> str:
        r, v = self.results, self.results["verdicts"]

        def spread(s: dict, fmt: str = "{:,.0f}") -> str:
            return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"

        def verdict(ok: bool) -> str:
            return "PASS" if ok else "FAIL"

        lat = r["latency_s"]
        lines = [
            f"## Benchmark {r['run_id']} ({r['mode']}: {r['input']}; {r['repetitions']} repetitions, "
            f"median (min-max))",
            "",
            "| measure | result | target | verdict |",
            "| --- | --- | --- | --- |",
            f"| raw consume (ConsumerPerformance, fetch rate) | {spread(r['raw_consume_records_per_s'])} records/s "
            f"| | |",
            f"| bounded run, from Pipeline.run to all rows written (both sinks) "
            f"| {spread(r['bounded_records_per_s'])} events/s | | |",
            f"| bounded run / raw consume | {r['bounded_ratio']:.3f} | >= {TARGETS['bounded_ratio_min']:.2f}, "
            f"counts = oracle in every run ({'yes' if r['bounded_counts_equal_oracle'] else 'NO'}) "
            f"| {verdict(v['bounded_ratio'])} |",
            f"| bounded run, from the checks of Kafka and ClickHouse on "
            f"| {spread(r['bounded_records_per_s_with_checks'])} events/s | | |",
            f"| bounded run, from JVM start | {spread(r['bounded_records_per_s_with_jvm_start'])} events/s | | |",
            f"| result latency at {LATENCY_RATE:,} clicks/s ({lat['windows']} windows of {LATENCY_WINDOW_MS} ms) "
            f"| p50 {lat['p50']:.2f} s, p99 {lat['p99']:.2f} s, max {lat['max']:.2f} s "
            f"| p99 <= {TARGETS['latency_p99_max_s']} s, counts = oracle "
            f"({'yes' if r['latency_counts_equal_oracle'] else 'NO'}) | {verdict(v['latency_p99'])} |",
            f"| peak RSS of the pipeline JVM, bounded (-Xmx{PIPELINE_HEAP}) | {spread(r['bounded_peak_rss_mb'])} MB "
            f"| <= {TARGETS['peak_rss_max_mb']} MB | {verdict(v['peak_rss'])} |",
            f"| peak RSS of the pipeline JVM, continuous | {spread(r['continuous_peak_rss_mb'])} MB | | |",
            f"| generator ({r['record_size_bytes']}-byte records) | {spread(r['generator_records_per_s'])} "
            f"records/s | | |",
            f"| ProducerPerformance, same size and producer settings "
            f"| {spread(r['producer_performance_records_per_s'])} records/s | | |",
            f"| generator / ProducerPerformance | {r['generator_ratio']:.3f} "
            f"| >= {TARGETS['generator_ratio_min']} | {verdict(v['generator_ratio'])} |",
            "",
            "Versions: " + ", ".join(f"{k} {val}" for k, val in r["versions"].items()),
            f"Pipeline: java -Xmx{PIPELINE_HEAP}, DirectRunner with the defaults main() sets: "
            f"--enforceImmutability=false --enforceEncodability=false --targetParallelism={os.cpu_count()}; "
            f"generator: java -Xmx{GENERATOR_HEAP}; producer settings of both: {' '.join(PRODUCER_PROPS)}",
        ]
        return "\n".join(lines)

    def main(self, out_json: str) -> int:
        self.results["versions"] = self.versions()
        self.results["started"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.clickhouse.query("CREATE DATABASE IF NOT EXISTS bench")
        for table in self.clickhouse.query("SHOW TABLES FROM bench").split():
            self.clickhouse.query(f"DROP TABLE IF EXISTS bench.{table}")  # a previous benchmark's tables
        t0 = time.monotonic()
        self.phase_generate()
        self.phase_consume()
        self.phase_bounded()
        self.phase_latency()
        for topic in (self.input_topic, "bench_aggregates", "bench_dlq"):
            self.delete_topic(topic)
        self.results["seconds"] = round(time.monotonic() - t0)
        self.results["verdicts"] = self.verdicts()
        with open(out_json, "w") as f:
            json.dump(self.results, f, indent=2)
        print(self.table())
        print(f"\nJSON: {out_json} ({self.results['seconds']} s in all)")
        return 0 if all(self.results["verdicts"].values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=sorted(MODES), nargs="?", default="quick")
    parser.add_argument("--events", type=int, help="events per input (default: by mode)")
    parser.add_argument("--reps", type=int, help="repetitions (default: by mode)")
    parser.add_argument("--latency-runs", type=int, help="continuous runs for the latency (default: by mode)")
    parser.add_argument("--latency-seconds", type=int, help="length of each latency run (default: by mode)")
    parser.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--clickhouse-http", default=os.environ.get("CLICKHOUSE_HTTP", "http://127.0.0.1:8123"))
    parser.add_argument("--work-dir", default=os.path.join(REPO, ".local-stack", "bench"))
    parser.add_argument("--out", help="JSON file (default: <work-dir>/bench-<mode>-<run id>.json)")
    args = parser.parse_args()
    bench = Bench(args)
    out = args.out or os.path.join(args.work_dir, f"bench-{args.mode}-{bench.run_id}.json")
    return bench.main(out)


if __name__ == "__main__":
    sys.exit(main())
