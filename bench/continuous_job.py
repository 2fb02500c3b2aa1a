"""What bench/hot_keys.py and bench/late_panes.py share: the local stack's addresses, and a continuous job of the
pipeline started on its Flink session cluster. Not a benchmark of its own."""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
GENERATOR_JAR = os.path.join(REPO, "generator", "target", "click-generator-bundled-0.1.0-SNAPSHOT.jar")
PIPELINE_JAR = os.path.join(REPO, "pipeline", "target", "click-pipeline-bundled-0.1.0-SNAPSHOT.jar")
KAFKA = os.environ.get("CLICK_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
FLINK_MASTER = os.environ.get("CLICK_FLINK_MASTER", "127.0.0.1:8081")


def rest(path: str) -> dict:
    """A GET of the session cluster's REST API."""
    return json.load(urllib.request.urlopen(f"http://{FLINK_MASTER}{path}", timeout=10))


def running_job(name: str):
    """The job's id once every one of its tasks runs (a job is RUNNING while its tasks still wait for slots)."""
    for job in rest("/jobs/overview")["jobs"]:
        if job["name"] == name and job["state"] == "RUNNING" and job["tasks"]["running"] == job["tasks"]["total"]:
            return job["jid"]
    return None


def start(jar: str, group: str, options: list, log_prefix: str):
    """Launches the pipeline's continuous job for consumer group {group} with {options} and waits, at most 120 s,
    until all its tasks run; exits naming the log if it does not. Returns the launcher process, its log and the job's
    id."""
    log = tempfile.NamedTemporaryFile(prefix=log_prefix, suffix=".log", delete=False).name
    with open(log, "w") as out:
        launcher = subprocess.Popen(["java", "-Xmx1g", "-jar", jar, "--runner=FlinkRunner",
                                     f"--flinkMaster={FLINK_MASTER}", f"--bootstrapServers={KAFKA}",
                                     f"--consumerGroup={group}", *options],
                                    stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    jid = None
    while jid is None:
        if time.monotonic() > deadline or launcher.poll() is not None:
            sys.exit(f"the job of {group} did not start; see {log}")
        time.sleep(1)
        jid = running_job(f"click-count-{group}")
    return launcher, log, jid
