"""How long one of the DAG's runs takes, by click rate: the question is whether a run fits its minute.

For each rate it writes six minutes of clicks ending at T (the generator, as fast as Kafka takes them: 5% late, 1%
malformed), runs the DAG's run at T - 1 min once to start the settled mark, then times the DAG's run at T as the
DAG's task starts it (`java -cp <bundled jar> ClickCountPipeline` with the DAG's options: --settle, --to = T - 2 min,
--earlyTo = T): it settles one minute and counts two early, reading about four minutes of the topic. Between
repetitions the newest mark row is removed, so each repetition does the same work. With --previous-jar it also times
a jar from before settling runs with the options the DAG gave it then (--from/--to/--earlyTo), on the same topic.

The clicks are written before the runs, not while they run: the producers' own CPU is not in these numbers.

    python3 bench/dag_run.py --runner direct --rates 2000,5000,20000
    python3 bench/dag_run.py --runner flink --rates 2000,20000 --previous-jar <old bundled jar>

Needs the local stack (services/local-stack.sh start) and the jars (mvn install -DskipTests). Not part of the tests.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PIPELINE_JAR = os.path.join(REPO, "pipeline", "target", "click-pipeline-bundled-0.1.0-SNAPSHOT.jar")
GENERATOR_JAR = os.path.join(REPO, "generator", "target", "click-generator-bundled-0.1.0-SNAPSHOT.jar")
KAFKA = os.environ.get("CLICK_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
CLICKHOUSE = os.environ.get("CLICK_CLICKHOUSE_HTTP", "http://127.0.0.1:8123/")
FLINK_MASTER = os.environ.get("CLICK_FLINK_MASTER", "127.0.0.1:8081")


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clickhouse(sql: str) -> str:
    return urllib.request.urlopen(urllib.request.Request(CLICKHOUSE, data=sql.encode()), timeout=60).read().decode()


def log(message: str) -> None:
    print(f"[dag-run] {message}", file=sys.stderr, flush=True)


def timed_run(jar: str, runner: str, options: list[str], heap: str = "1g") -> dict:
    """One run as the DAG's task starts it: wall time, when the Flink job was submitted, records read."""
    runner_options = (["--runner=FlinkRunner", f"--flinkMaster={FLINK_MASTER}", "--parallelism=2"]
                      if runner == "flink" else [])
    command = ["java", f"-Xmx{heap}", "-Dorg.slf4j.simpleLogger.logFile=System.out", "-cp", jar,
               "dev.clickstream.pipeline.ClickCountPipeline", *options, *runner_options]
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    submitted = None
    output = []
    for line in process.stdout:
        output.append(line)
        if submitted is None and "submitted Flink job" in line:
            submitted = time.monotonic() - start
    process.wait()
    seconds = time.monotonic() - start
    text = "".join(output)
    if process.returncode != 0:
        raise SystemExit(f"the run failed ({process.returncode}):\n{text[-4000:]}")
    read = re.search(r"read ([\d,]+) records", text)
    return {"seconds": seconds, "submitted": submitted, "read": int(read.group(1).replace(",", "")) if read else None}


def described(run: dict) -> str:
    return (f"{run['seconds']:.1f} s, {run['read']:,} records read"
            + (f", submitted after {run['submitted']:.1f} s" if run["submitted"] else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runner", choices=["direct", "flink"], default="direct")
    parser.add_argument("--rates", default="2000,5000,20000", help="clicks per second, comma-separated")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--jar", default=PIPELINE_JAR)
    parser.add_argument("--heap", default="1g", help="the run's -Xmx, as CLICK_JAVA_HEAP gives the DAG's task")
    parser.add_argument("--previous-jar", help="a bundled jar from before settling runs, timed the old way too")
    args = parser.parse_args()
    results = []
    for rate in (int(r) for r in args.rates.split(",")):
        run = format(int(time.time() * 1000), "x")
        topic, table = f"dagbench_{rate}_{run}", f"analytics.dagbench_{rate}_{run}"
        t = (int(time.time()) // 60 - 1) * 60  # the run at T settles up to T - 2 min: ripe by the wall clock
        log(f"{rate:,} clicks/s: writing [{iso(t - 360)}, {iso(t)}) to {topic}")
        subprocess.run(["java", "-Xmx1g", "-jar", GENERATOR_JAR, "--bootstrap-servers", KAFKA, "--topic", topic,
                        "--start", iso(t - 360), "--duration", "PT6M", "--rate", str(rate), "--popularity", "zipf:1.1",
                        "--late-fraction", "0.05", "--late-delay", "PT90S", "--malformed-fraction", "0.01",
                        "--progress-interval", "PT30S"], check=True, stdout=subprocess.DEVNULL)
        common = [f"--bootstrapServers={KAFKA}", f"--inputTopic={topic}", f"--outputTopic={topic}_agg",
                  f"--deadLetterTopic={topic}_dlq", f"--clickHouseTable={table}"]

        def dag(at: int) -> list[str]:
            return [*common, "--settle=true", f"--from={iso(at - 180)}", f"--to={iso(at - 120)}",
                    f"--earlyTo={iso(at)}"]

        timed_run(args.jar, args.runner, dag(t - 60), args.heap)  # starts the mark at T - 4 min, settles to T - 3 min
        for rep in range(args.reps):
            r = timed_run(args.jar, args.runner, dag(t), args.heap)
            clickhouse(f"ALTER TABLE {table}_settled DELETE WHERE settled_to = {(t - 120) * 1000}")
            while clickhouse(f"SELECT count() FROM {table}_settled WHERE settled_to = {(t - 120) * 1000}").strip() != "0":
                time.sleep(0.2)
            log(f"  run {rep + 1}: {described(r)}")
            results.append({"rate": rate, "jar": "this", **r})
        if args.previous_jar:
            old = [*common, f"--from={iso(t - 180)}", f"--to={iso(t - 120)}", f"--earlyTo={iso(t)}"]
            for rep in range(args.reps):
                r = timed_run(args.previous_jar, args.runner, old, args.heap)
                log(f"  previous jar, run {rep + 1}: {described(r)}")
                results.append({"rate": rate, "jar": "previous", **r})
    print(f"\n| runner {args.runner}, -Xmx{args.heap} | clicks/s | jar | run wall time (median of {args.reps}) | runs | records read |"
          f" submitted after (median) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for rate in sorted({r["rate"] for r in results}):
        for jar in ("previous", "this"):
            rows = [r for r in results if r["rate"] == rate and r["jar"] == jar]
            if not rows:
                continue
            seconds = [r["seconds"] for r in rows]
            submitted = [r["submitted"] for r in rows if r["submitted"] is not None]
            print(f"| {args.runner} | {rate:,} | {jar} | {statistics.median(seconds):.1f} s |"
                  f" {', '.join(f'{s:.1f}' for s in seconds)} | {rows[0]['read']:,} |"
                  f" {f'{statistics.median(submitted):.1f} s' if submitted else '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
