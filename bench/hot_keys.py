"""How much of the counting the busiest subtask does, with and without Count.perKey's hot-key fan-out.

For each --hotKeyFanout value: a continuous job on the local Flink session cluster reads a fresh topic while the
generator writes clicks at wall-clock pace with Zipf popularity, then the launcher is stopped (SIGTERM). While the job
runs, the Flink REST API gives each vertex's records read per subtask; the vertex that reads the clicks after the
shuffle by product (the counting's first stage: the count itself, or its per-shard pre-count with a fan-out) is the
one a hot product loads. Printed per run: that vertex's busiest subtask's share of its records, and every vertex's.

    python3 bench/hot_keys.py --fanout 1 --fanout 16 --parallelism 4 --partitions 8 --rate 10000 --seconds 40 \
        [--popularity zipf:1.5] [--jar pipeline/target/click-pipeline-bundled-0.1.0-SNAPSHOT.jar]

Needs the local stack (services/local-stack.sh start; parallelism 4 needs `start taskmanager2` too) and the
generator's jar. Not part of the tests.
"""
import argparse
import json
import signal
import subprocess
import sys
import time

from continuous_job import GENERATOR_JAR, KAFKA, PIPELINE_JAR, rest, start


def records_read_per_subtask(jid: str) -> dict:
    """Vertex name -> records read by each of its subtasks."""
    out = {}
    for vertex in rest(f"/jobs/{jid}")["vertices"]:
        detail = rest(f"/jobs/{jid}/vertices/{vertex['id']}")
        out[vertex["name"]] = [s["metrics"]["read-records"] for s in detail["subtasks"]]
    return out


def counting_vertex(per_vertex: dict) -> str:
    """The first stage of the count: the pre-count of the shards with a fan-out, else the count."""
    names = list(per_vertex)
    for marker in ("PreCombineHot", "CountPerProduct"):
        found = [n for n in names if marker in n]
        if found:
            return found[0]
    sys.exit(f"no counting vertex among {names}")


def run(fanout: int, args) -> dict:
    tag = f"hk{int(time.time())}f{fanout}"
    topic, group = f"{tag}_clicks", f"{tag}_group"
    # The topic first, with its partitions (the one click this writes is counted like the others).
    subprocess.run(["java", "-Xmx512m", "-jar", GENERATOR_JAR, "--bootstrap-servers", KAFKA, "--topic", topic,
                    "--partitions", str(args.partitions), "--count", "1"], capture_output=True, timeout=120,
                   check=True)
    launcher, log, jid = start(args.jar, group, [f"--parallelism={args.parallelism}", f"--inputTopic={topic}",
                                                f"--outputTopic={topic}_agg", f"--deadLetterTopic={topic}_dlq",
                                                f"--clickHouseTable=analytics.{tag}", "--windowSize=PT10S",
                                                f"--hotKeyFanout={fanout}"], f"hot-keys-{fanout}-")
    generator = subprocess.Popen(["java", "-Xmx512m", "-jar", GENERATOR_JAR, "--bootstrap-servers", KAFKA,
                                  "--topic", topic, "--rate", str(args.rate), "--pace", "real", "--duration",
                                  f"PT{args.seconds}S", "--popularity", args.popularity, "--products", "100",
                                  "--seed", "7"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Sampled while the clicks come and until the last windows have fired: the REST API's per-subtask counts only grow,
    # but single reads taken after the clicks have come back all zero here, so the largest sample is kept.
    per_vertex, settled_at = {}, None
    while settled_at is None or time.monotonic() < settled_at + 15:
        time.sleep(3)
        sample = records_read_per_subtask(jid)
        if sum(map(sum, sample.values())) > sum(map(sum, per_vertex.values())):
            per_vertex = sample
        if settled_at is None and generator.poll() is not None:
            settled_at = time.monotonic()
    if generator.returncode != 0:
        sys.exit(f"fan-out {fanout}: the generator failed:\n{generator.stderr.read()[-2000:]}")
    launcher.send_signal(signal.SIGTERM)
    launcher.wait(400)
    vertex = counting_vertex(per_vertex)
    reads = per_vertex[vertex]
    result = {"fanout": fanout, "parallelism": args.parallelism, "popularity": args.popularity,
              "clicks written": args.rate * args.seconds + 1, "counting vertex": vertex,
              "records read per subtask": reads,
              "busiest subtask's share": round(max(reads) / max(1, sum(reads)), 3),
              "all vertices": per_vertex, "log": log}
    print(json.dumps(result), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fanout", type=int, action="append", required=True, help="a --hotKeyFanout; give several")
    parser.add_argument("--jar", default=PIPELINE_JAR)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rate", type=int, default=20000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--popularity", default="zipf:1.1")
    args = parser.parse_args()
    for fanout in args.fanout:
        run(fanout, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
