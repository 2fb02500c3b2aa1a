#!/usr/bin/env python3
"""The performance benchmark, in one run on the local Kafka and ClickHouse. Standard library only.

Run it through bench/run.sh, which builds the jars and starts the services first:
    bench/run.sh quick      # about 1 M events per input, a few minutes
    bench/run.sh full       # 10 M events per input

What it measures, in this order, on the same machine and broker:
  1. the generator's rate against Kafka's ProducerPerformance with the same record size and producer settings
     (alternating repetitions); the generator's first repetition writes the benchmark's input topic;
  2. the raw consume rate of that topic with Kafka's ConsumerPerformance;
  3. the pipeline's bounded run over the same topic: events/s from the pipeline's start to all rows written to
     both sinks (the run ends only after both have flushed), its ratio to (2), and the pipeline JVM's peak RSS;
     every run's ClickHouse table is compared with the generator's oracle; with --previous-jar, the same runs of an
     earlier build (bench/run.sh: the graph with hand-written readers that KafkaIO replaced);
     3b. on a Flink runner, with --native-jar: the same work as a native Flink DataStream job (bench/flink-native),
     same topic, same parallelism, and the Beam pipeline's throughput as a ratio of it;
     3c. on the DirectRunner: what a continuous run sustains, reading a backlog;
  4. on a Flink runner, continuous mode with the generator at a steady 20,000 clicks/s: per window, the time from
     window end + maxOutOfOrderness (wall clock) until ClickHouse shows the window's complete count; p50/p99/max.
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
DIRECT_CONTINUOUS_EVENTS = 100_000  # the backlog a continuous DirectRunner run reads (phase 3c)
# A latency run first sends WARMUP_SECONDS of clicks and waits until the pipeline has counted them all: a job that
# is still starting (a Flink job on [local] takes seconds to read) would otherwise be measured catching up with the
# stream it missed (the first windows of a Flink run came seconds late, the caught-up ones well under a second).
WARMUP_SECONDS = 10

# The producer settings of the generator (ClickGenerator.producerProperties), given to ProducerPerformance too.
PRODUCER_PROPS = ["acks=all", "enable.idempotence=true", "linger.ms=10", "batch.size=262144",
                  "buffer.memory=67108864"]
PIPELINE_HEAP = "1g"        # the README's -Xmx for the pipeline (pipeline.heap in pipeline/pom.xml)
GENERATOR_HEAP = "512m"     # generator.heap in generator/pom.xml

TARGETS = {  # issue 21's
    "beam_to_native_min": 0.8,           # the Beam pipeline on Flink against the native Flink job
    "direct_bounded_min_per_s": 100_000,  # the DirectRunner's bounded run, in every repetition
    "latency_p99_max_s": 1.0,
    "peak_rss_max_mb": 1536,
    "generator_ratio_min": 0.85,
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


def staged_jar(jar: str) -> str:
    """What a launch from the bundled jar {jar} stages on a session cluster (FlinkLaunch.jobJar): the job jar beside it,
    the same classes without Flink's, when there is one (an earlier commit's build may have none)."""
    job = jar.replace("-bundled-", "-job-")
    return job if job != jar and os.path.isfile(job) else jar


def iso_utc(seconds: float) -> str:
    """An epoch time in seconds as the generator's and the pipeline's ISO-8601 UTC instant, to the second."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_watched(cmd: list[str]) -> tuple[int, str, float, int]:
    """Runs a JVM to its end: its exit status, its output, its wall time in seconds, and its peak RSS in KB."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watcher = RssWatcher(proc.pid)
    watcher.start()
    out, _ = proc.communicate(timeout=3600)
    wall = time.monotonic() - started
    watcher.stop.set()
    return proc.returncode, out, wall, watcher.peak_kb


def stop_gracefully(proc: subprocess.Popen) -> None:
    """SIGTERM (a continuous pipeline prints its summary and exits), then SIGKILL if it has not within 60 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


class Bench:
    def __init__(self, args):
        self.mode = dict(MODES[args.mode])
        self.mode["latency_runs"] = args.latency_runs or self.mode["latency_runs"]
        self.mode["latency_seconds"] = args.latency_seconds or self.mode["latency_seconds"]
        self.mode_name = args.mode
        self.events = args.events or self.mode["events"]
        self.reps = args.reps or self.mode["reps"]
        self.bootstrap = args.bootstrap_servers
        self.runner = args.runner
        self.flink_master = args.flink_master
        self.clickhouse = ClickHouse(args.clickhouse_http)
        self.work = args.work_dir
        os.makedirs(self.work, exist_ok=True)
        self.run_id = time.strftime("%Y%m%d%H%M%S")
        self.input_topic = f"bench_clicks_{self.run_id}"
        self.staged_jar = staged_jar(PIPELINE_JAR)
        self.native_jar = args.native_jar
        self.previous_jar = args.previous_jar
        self.parallelism = args.parallelism
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
        runner = {"direct": "DirectRunner", "flink-local": "FlinkRunner [local]",
                  "flink": f"FlinkRunner, session cluster {self.flink_master}"}[self.runner]
        return {"java": java, "beam": beam, "runner": runner, "kafka_broker": kafka,
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
        start = iso_utc(start_s)
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

    def pipeline_cmd(self, *args: str, jar: str = PIPELINE_JAR) -> list[str]:
        return ["java", f"-Xmx{PIPELINE_HEAP}", "-cp", jar, "dev.clickstream.pipeline.ClickCountPipeline",
                f"--bootstrapServers={self.bootstrap}", f"--clickHouseUrl={self.jdbc_url('bench')}",
                f"--outputTopic=bench_aggregates", f"--deadLetterTopic=bench_dlq", *self.runner_args(), *args]

    def runner_args(self) -> list[str]:
        if self.runner == "flink-local":
            return ["--runner=FlinkRunner", "--flinkMaster=[local]"]
        if self.runner == "flink":  # the job runs in the cluster's TaskManager; the jar is uploaded with it
            return ["--runner=FlinkRunner", f"--flinkMaster={self.flink_master}", f"--filesToStage={self.staged_jar}"]
        return []

    def phase_bounded(self, jar: str = PIPELINE_JAR, key: str = "bounded") -> None:
        """The pipeline's bounded runs; {key}_* results. With the previous graph's jar: key 'previous'."""
        self.staged_jar = staged_jar(jar)
        oracle = click_checks.load_oracle(self.expected)
        expected = click_checks.expected_counts(oracle)
        frm = iso_utc(self.input_start_ms / 1000)
        to = iso_utc(self.input_end_ms / 1000)
        rates, with_checks, walls, rss, runs = [], [], [], [], []
        for rep in range(self.reps):
            table = f"bench.{key}_{self.run_id}_{rep}"
            cmd = self.pipeline_cmd(f"--inputTopic={self.input_topic}", f"--clickHouseTable={table}",
                                    f"--windowSize={INPUT_WINDOW}", f"--from={frm}", f"--to={to}", jar=jar)
            log(f"{'bounded run' if key == 'bounded' else key + ' graph, bounded run'} {rep + 1}/{self.reps} "
                f"into {table}")
            returncode, out, wall, peak_kb = run_watched(cmd)
            if returncode != 0:
                raise RuntimeError(f"the bounded run exited {returncode}:\n{out[-3000:]}")
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
                         "records_per_s": self.events / run_seconds, "peak_rss_mb": peak_kb / 1024,
                         "summary": line, "counts_equal_oracle": not wrong, "differences": wrong[:5]})
            log(f"  {line}")
            log(f"  {self.events / run_seconds:,.0f} events/s from Pipeline.run to all rows written "
                f"({self.events / seconds:,.0f} with the checks and graph building, {self.events / wall:,.0f} with "
                f"JVM start), peak RSS {peak_kb / 1024:,.0f} MB, counts {'= oracle' if not wrong else 'DIFFER'}")
            rates.append(self.events / run_seconds)
            with_checks.append(self.events / seconds)
            walls.append(self.events / wall)
            rss.append(peak_kb / 1024)
        self.results[f"{key}_runs"] = runs
        self.results[f"{key}_records_per_s"] = summary_stats(rates)
        self.results[f"{key}_records_per_s_with_checks"] = summary_stats(with_checks)
        self.results[f"{key}_records_per_s_with_jvm_start"] = summary_stats(walls)
        self.results[f"{key}_ratio"] = (self.results[f"{key}_records_per_s"]["median"]
                                        / self.results["raw_consume_records_per_s"]["median"])
        self.results[f"{key}_peak_rss_mb"] = summary_stats(rss)
        self.results[f"{key}_counts_equal_oracle"] = all(r["counts_equal_oracle"] for r in runs)

    # ---------------------------------------------------------------- 3b. the native Flink job
    def phase_native(self) -> None:
        """The same bounded work as a native Flink DataStream job (bench/flink-native), same topic and parallelism."""
        rates, walls, rss = [], [], []
        # The Beam pipeline's bounded read: from a minute before the interval (a click's allowed skew) to its end plus
        # the allowed lateness, the watermark delay and a millisecond; here that is the whole topic either way.
        frm = self.input_start_ms - 60_000
        to = self.input_end_ms + 10_000 + 5_000 + 1
        window_s = int(INPUT_WINDOW[2:-1])
        for rep in range(self.reps):
            cmd = ["java", f"-Xmx{PIPELINE_HEAP}", "-jar", self.native_jar, "--bootstrap", self.bootstrap,
                   "--topic", self.input_topic, "--output", "bench_native_counts", "--from", str(frm), "--to", str(to),
                   "--window-seconds", str(window_s), "--lateness-seconds", str(window_s), "--parallelism",
                   str(self.parallelism)]
            if self.runner == "flink":
                cmd += ["--master", self.flink_master]
            log(f"native Flink job {rep + 1}/{self.reps} ({'session cluster' if self.runner == 'flink' else 'embedded'}"
                f", parallelism {self.parallelism})")
            returncode, out, wall, peak_kb = run_watched(cmd)
            done = re.search(r"native flink: job \S+ done in ([\d.]+) s", out)
            if returncode != 0 or not done:
                raise RuntimeError(f"the native Flink job exited {returncode}:\n{out[-3000:]}")
            seconds = float(done.group(1))
            rates.append(self.events / seconds)
            walls.append(self.events / wall)
            rss.append(peak_kb / 1024)
            log(f"  {self.events / seconds:,.0f} events/s from execute() to the job's end "
                f"({self.events / wall:,.0f} with JVM start), peak RSS {rss[-1]:,.0f} MB")
        self.results["native_records_per_s"] = summary_stats(rates)
        self.results["native_records_per_s_with_jvm_start"] = summary_stats(walls)
        self.results["native_peak_rss_mb"] = summary_stats(rss)
        self.results["beam_to_native_ratio"] = (self.results["bounded_records_per_s"]["median"]
                                                / self.results["native_records_per_s"]["median"])
        if "previous_records_per_s" in self.results:
            self.results["previous_to_native_ratio"] = (self.results["previous_records_per_s"]["median"]
                                                        / self.results["native_records_per_s"]["median"])

    # ---------------------------------------------------------------- 3c. DirectRunner, continuous throughput
    def phase_direct_continuous(self) -> None:
        """What the DirectRunner sustains in continuous mode: a backlog of clicks read by a continuous run."""
        topic = f"bench_backlog_{self.run_id}"
        table = f"bench.backlog_{self.run_id}"
        expected_file = os.path.join(self.work, f"expected-backlog-{self.run_id}.json")
        count = DIRECT_CONTINUOUS_EVENTS
        start_s = (int(time.time()) - 1800) // 60 * 60
        log(f"DirectRunner continuous throughput: a backlog of {count:,} clicks, read by a continuous run")
        self.generate(topic, count, count / 60,
                      iso_utc(start_s),
                      INPUT_WINDOW, [], expected=expected_file)
        oracle = click_checks.load_oracle(expected_file)
        cmd = self.pipeline_cmd(f"--inputTopic={topic}", f"--clickHouseTable={table}",
                                f"--consumerGroup=bench-backlog-{self.run_id}", f"--windowSize={INPUT_WINDOW}")
        out_path = os.path.join(self.work, f"backlog-{self.run_id}.log")
        with open(out_path, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            self.wait_for_table(table, proc, out_path)
            started = time.monotonic()
            sql = f"SELECT sum(count) FROM {table} FINAL"
            total = 0
            while time.monotonic() - started < 900:
                total = int(self.clickhouse.query(sql).strip() or 0)
                if total >= oracle["counted"]:
                    break
                time.sleep(0.5)
            seconds = time.monotonic() - started
        finally:
            stop_gracefully(proc)
        self.delete_topic(topic)
        self.results["direct_continuous"] = {
            "records": count, "clicks_counted": total, "expected": oracle["counted"], "seconds": round(seconds, 1),
            "records_per_s": count / seconds, "complete": total == oracle["counted"]}
        log(f"  {total:,} of {oracle['counted']:,} clicks counted in {seconds:.1f} s: {count / seconds:,.0f} records/s")

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
            warmup_file = os.path.join(self.work, f"expected-warmup-{self.run_id}-{rep}.json")
            self.generate(topic, LATENCY_RATE * WARMUP_SECONDS, LATENCY_RATE, iso_utc(int(time.time()) + 1),
                          f"PT{LATENCY_WINDOW_MS / 1000:g}S", ["--arrival-jitter", "PT0.5S"], expected=warmup_file,
                          pace="real")
            self.wait_for_counts(table, click_checks.expected_counts(click_checks.load_oracle(warmup_file)), proc,
                                 out_path)
            # The measured clicks start on the next window boundary, after every warm-up click's event time.
            window_s = LATENCY_WINDOW_MS // 1000
            start_s = (int(time.time()) // window_s + 1) * window_s
            self.generate(topic, LATENCY_RATE * self.mode["latency_seconds"], LATENCY_RATE,
                          iso_utc(start_s),
                          f"PT{LATENCY_WINDOW_MS / 1000:g}S", ["--arrival-jitter", "PT0.5S"], expected=expected_file,
                          pace="real")
            time.sleep((MAX_OUT_OF_ORDERNESS_MS + 2 * LATENCY_WINDOW_MS) / 1000 + 3)
            stop.set()
            poller.join()
        finally:
            stop_gracefully(proc)
            watcher.stop.set()
        oracle = click_checks.load_oracle(expected_file)
        expected = click_checks.expected_counts(oracle)
        per_window: dict[int, int] = {}
        for (_, window), count in expected.items():
            per_window[window] = per_window.get(window, 0) + count
        windows = sorted(per_window)
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

    def wait_for_counts(self, table: str, expected: dict, proc: subprocess.Popen, log_path: str) -> None:
        """Waits up to 120 s until ClickHouse's FINAL view holds exactly `expected` for its windows."""
        windows = [window for _, window in expected]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the continuous pipeline exited {proc.returncode}; see {log_path}")
            rows = click_checks.final_rows(self.clickhouse.url, table, min(windows), max(windows) + 1)
            if not click_checks.differences(expected, rows):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the warm-up clicks were not all counted in {table} within 120 s; see {log_path}")

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
        v = {
            # The ratio to raw consume was once met by counting inside a hand-written reader; with KafkaIO's read and
            # Count.perKey the targets below replace it. Its ratio is still reported.
            "bounded_counts": r["bounded_counts_equal_oracle"],
            "peak_rss": r["bounded_peak_rss_mb"]["max"] <= TARGETS["peak_rss_max_mb"],
            "generator_ratio": r["generator_ratio"] >= TARGETS["generator_ratio_min"],
        }
        if "latency_s" in r:
            v["latency_p99"] = r["latency_s"]["p99"] <= TARGETS["latency_p99_max_s"] and r["latency_counts_equal_oracle"]
        if "beam_to_native_ratio" in r:
            v["beam_to_native"] = r["beam_to_native_ratio"] >= TARGETS["beam_to_native_min"]
        if self.runner == "direct":
            v["direct_bounded"] = r["bounded_records_per_s"]["min"] >= TARGETS["direct_bounded_min_per_s"]
            v["direct_continuous_complete"] = r["direct_continuous"]["complete"]
        return v

    def table(self) -> str:
        r, v = self.results, self.results["verdicts"]

        def spread(s: dict, fmt: str = "{:,.0f}") -> str:
            return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"

        def verdict(ok: bool) -> str:
            return "PASS" if ok else "FAIL"

        lat = r.get("latency_s")
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
            f"| bounded run / raw consume | {r['bounded_ratio']:.3f} | counts = oracle in every run "
            f"({'yes' if r['bounded_counts_equal_oracle'] else 'NO'}) | {verdict(v['bounded_counts'])} |",
            f"| bounded run, from the checks of Kafka and ClickHouse on "
            f"| {spread(r['bounded_records_per_s_with_checks'])} events/s | | |",
            f"| bounded run, from JVM start | {spread(r['bounded_records_per_s_with_jvm_start'])} events/s | | |",
        ]
        if "previous_records_per_s" in r:
            lines += [
                f"| the previous graph (hand-written readers), bounded, same input and sitting "
                f"| {spread(r['previous_records_per_s'])} events/s; counts = oracle "
                f"({'yes' if r['previous_counts_equal_oracle'] else 'NO'}); peak RSS "
                f"{spread(r['previous_peak_rss_mb'])} MB | | |",
                f"| this graph / the previous graph | "
                f"{r['bounded_records_per_s']['median'] / r['previous_records_per_s']['median']:.2f} | | |"]
        if "native_records_per_s" in r:
            lines += [
                f"| native Flink DataStream job (bench/flink-native), same input, parallelism {self.parallelism} "
                f"| {spread(r['native_records_per_s'])} events/s (from execute() to the job's end); peak RSS "
                f"{spread(r['native_peak_rss_mb'])} MB | | |",
                f"| Beam pipeline on Flink / native Flink job | {r['beam_to_native_ratio']:.2f} "
                f"| >= {TARGETS['beam_to_native_min']} | {verdict(v['beam_to_native'])} |"]
            if "previous_to_native_ratio" in r:
                lines.append(f"| previous graph on Flink / native Flink job | {r['previous_to_native_ratio']:.2f} | | |")
        if self.runner == "direct":
            dc = r["direct_continuous"]
            lines += [
                f"| DirectRunner bounded run | {spread(r['bounded_records_per_s'])} events/s "
                f"| >= {TARGETS['direct_bounded_min_per_s']:,} in every run | {verdict(v['direct_bounded'])} |",
                f"| DirectRunner continuous run: a backlog of {dc['records']:,} clicks read and counted "
                f"| {dc['records_per_s']:,.0f} records/s sustained ({dc['seconds']} s) | all counted "
                f"| {verdict(v['direct_continuous_complete'])} |"]
        if lat:
            lines.append(
                f"| result latency at {LATENCY_RATE:,} clicks/s ({lat['windows']} windows of {LATENCY_WINDOW_MS} ms) "
                f"| p50 {lat['p50']:.2f} s, p99 {lat['p99']:.2f} s, max {lat['max']:.2f} s "
                f"| p99 <= {TARGETS['latency_p99_max_s']} s, counts = oracle "
                f"({'yes' if r['latency_counts_equal_oracle'] else 'NO'}) | {verdict(v['latency_p99'])} |")
        lines += [
            f"| peak RSS of the pipeline JVM, bounded (-Xmx{PIPELINE_HEAP}) | {spread(r['bounded_peak_rss_mb'])} MB "
            f"| <= {TARGETS['peak_rss_max_mb']} MB | {verdict(v['peak_rss'])} |"]
        if lat:
            lines.append(f"| peak RSS of the pipeline JVM, continuous | {spread(r['continuous_peak_rss_mb'])} MB | | |")
        lines += [
            f"| generator ({r['record_size_bytes']}-byte records) | {spread(r['generator_records_per_s'])} "
            f"records/s | | |",
            f"| ProducerPerformance, same size and producer settings "
            f"| {spread(r['producer_performance_records_per_s'])} records/s | | |",
            f"| generator / ProducerPerformance | {r['generator_ratio']:.3f} "
            f"| >= {TARGETS['generator_ratio_min']} | {verdict(v['generator_ratio'])} |",
            "",
            "Versions: " + ", ".join(f"{k} {val}" for k, val in r["versions"].items()),
            (f"Pipeline: java -Xmx{PIPELINE_HEAP}, DirectRunner with the defaults main() sets: "
             f"--enforceImmutability=false --enforceEncodability=false --targetParallelism={os.cpu_count()}; "
             if self.runner == "direct" else
             f"Pipeline: java -Xmx{PIPELINE_HEAP} {' '.join(self.runner_args())}, with the Flink flags main() adds "
             f"(the cluster's parallelism and checkpoint interval; --fasterCopy for bounded runs); ") +
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
        phases = [("generate the input, and Kafka's own producer for comparison", self.phase_generate),
                  ("Kafka's own consumer over the input (the ceiling for any reader)", self.phase_consume),
                  ("bounded runs of the pipeline", self.phase_bounded)]
        if self.previous_jar:
            phases.append(("bounded runs of the previous graph",
                           lambda: self.phase_bounded(self.previous_jar, "previous")))
        if self.native_jar and self.runner != "direct":
            phases.append(("the native Flink job on the same input", self.phase_native))
        if self.runner == "direct":
            # The DirectRunner reads a continuous KafkaIO source 10 records a bundle: it cannot follow 20,000 clicks/s,
            # so its continuous figure is the rate it sustains, not a latency.
            phases.append(("the DirectRunner's continuous rate", self.phase_direct_continuous))
        else:
            phases.append(("continuous latency, window closable to complete row", self.phase_latency))
        for number, (name, phase) in enumerate(phases, 1):
            log(f"== phase {number}/{len(phases)}: {name} ({time.monotonic() - t0:,.0f} s into the benchmark)")
            phase()
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
    parser.add_argument("--runner", choices=["direct", "flink-local", "flink"], default="direct",
                        help="the pipeline's runner: DirectRunner, FlinkRunner on its embedded [local] cluster, or on "
                             "the local stack's Flink session cluster (--flink-master); on the session cluster the "
                             "peak RSS measured is the launcher's, not the TaskManager's")
    parser.add_argument("--flink-master", default=os.environ.get("CLICK_FLINK_MASTER", "127.0.0.1:8081"))
    parser.add_argument("--parallelism", type=int, default=2,
                        help="the native Flink job's parallelism: the session cluster's, and [local]'s on 2 cores")
    parser.add_argument("--native-jar", help="the native Flink job's jar (bench/run.sh builds it): run it after the "
                                             "pipeline's bounded runs, on the same runner kind")
    parser.add_argument("--previous-jar", help="a bundled pipeline jar of an earlier graph (bench/run.sh builds the "
                                               "one with hand-written readers): its bounded runs beside this one's")
    parser.add_argument("--bootstrap-servers", default=os.environ.get("CLICK_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--clickhouse-http",
                        default=os.environ.get("CLICK_CLICKHOUSE_HTTP", "http://127.0.0.1:8123/").rstrip("/"))
    parser.add_argument("--work-dir", default=os.path.join(REPO, ".local-stack", "bench"))
    parser.add_argument("--out", help="JSON file (default: <work-dir>/bench-<mode>-<run id>.json)")
    args = parser.parse_args()
    bench = Bench(args)
    out = args.out or os.path.join(args.work_dir, f"bench-{args.mode}-{bench.run_id}.json")
    return bench.main(out)


if __name__ == "__main__":
    sys.exit(main())
