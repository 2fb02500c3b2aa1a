package dev.clickstream.pipeline.it;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.clickstream.generator.Oracle;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Flink's own recovery, on the local session cluster: live clicks (some late) flow while the TaskManager is killed with
 * SIGKILL and started again, or while the job is stopped with a savepoint and resumed from it. Each must end with
 * ClickHouse's FINAL view equal to the oracle, and the aggregates topic's largest count per window and newest record
 * per key (what compaction keeps) equal to it too: the restored job writes again what it wrote after its checkpoint,
 * and must end each window on its full count. Runs only in the flink-session-cluster execution (pipeline/pom.xml).
 */
@Tag("services")
@Tag("flink")
class FlinkRecoveryIT {
  private static final Path STACK_DIR = Path.of(System.getenv().getOrDefault("STACK_DIR", "../.local-stack"));

  private record Run(String name, String topic, String table, String group) {
    String[] options(String... more) {
      List<String> all = new java.util.ArrayList<>(List.of("--inputTopic=" + topic, "--outputTopic=" + topic + "_agg",
          "--deadLetterTopic=" + topic + "_dlq", "--consumerGroup=" + group, "--clickHouseTable=" + table,
          "--windowSize=PT5S", "--allowedLateness=PT10S", "--maxOutOfOrderness=PT1S"));
      all.addAll(List.of(more));
      return all.toArray(String[]::new);
    }
  }

  private static Run run(String name) throws Exception {
    LocalStack.requireRunning();
    assertThat("FlinkRecoveryIT needs the session cluster", LocalStack.RUNNER, equalTo("flink"));
    String id = name + "_" + Long.toString(System.currentTimeMillis(), 36);
    Run run = new Run(id, "it_flink_" + id, "analytics.it_flink_" + id, "it_flink_" + id);
    LocalStack.createTopic(run.topic(), 2);
    return run;
  }

  private static CompletableFuture<Oracle> generate(Run run) {
    return LocalStack.generateInBackground("--topic", run.topic(), "--start",
        Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(), "--pace", "real", "--duration", "PT60S",
        "--rate", "200", "--late-fraction", "0.1", "--late-delay", "PT3S", "--malformed-fraction", "0.01",
        "--seed", "11", "--window-size", "PT5S", "--allowed-lateness", "PT10S", "--progress-interval", "PT10S");
  }

  /** The state of the cluster's newest job for the run's group, polled until it is {@code state}; seconds taken. */
  private static double awaitJobState(Run run, String state, Duration timeout) throws Exception {
    long start = System.nanoTime();
    long deadline = start + timeout.toNanos();
    String seen = "";
    while (System.nanoTime() < deadline) {
      var job = LocalStack.newestFlinkJobIfAny(run.group());
      seen = job == null ? "(not submitted yet)" : job.path("state").asText();
      if (seen.equals(state) && (!state.equals("RUNNING") || allTasksRunning(run))) {
        return (System.nanoTime() - start) / 1e9;
      }
      Thread.sleep(250);
    }
    fail("the job of " + run.group() + " did not become " + state + " in " + timeout + " (last: " + seen + ")");
    return -1;
  }

  private static boolean allTasksRunning(Run run) throws Exception {
    String jobId = LocalStack.newestFlinkJob(run.group()).path("jid").asText();
    for (var vertex : LocalStack.flinkRest("/jobs/" + jobId).path("vertices")) {
      if (!vertex.path("status").asText().equals("RUNNING")) {
        return false;
      }
    }
    return true;
  }

  private static void checkResults(Run run, Oracle oracle, Process pipeline, Path log) throws Exception {
    Map<List<Long>, Long> expected = LocalStack.expectedCounts(oracle);
    Map<List<Long>, Long> actual = LocalStack.awaitCounts(run.table(), expected, pipeline, Duration.ofSeconds(120));
    assertTrue(pipeline.isAlive(), "the launcher ended:\n" + Files.readString(log));
    LocalStack.assertSameCounts("ClickHouse FINAL", expected, actual);
    LocalStack.awaitAggregates(run.topic() + "_agg", expected);
  }

  private static void stop(Process pipeline) throws InterruptedException {
    pipeline.destroy();
    if (!pipeline.waitFor(60, TimeUnit.SECONDS)) {
      pipeline.destroyForcibly();
    }
  }

  @Test
  void theJobRestoresItsLastCheckpointOntoARestartedTaskManager() throws Exception {
    Run run = run("tmkill");
    Path log = Path.of("target", "flink-tmkill-" + run.name() + ".log");
    Process pipeline = LocalStack.startPipeline(log, run.options());
    try {
      awaitJobState(run, "RUNNING", Duration.ofSeconds(60));
      CompletableFuture<Oracle> generated = generate(run);
      long generating = System.nanoTime();
      LocalStack.awaitOutputCheckpointed(run.group(), run.topic() + "_agg", run.topic() + "_dlq");
      Thread.sleep(Math.max(0, 25_000 - (System.nanoTime() - generating) / 1_000_000)); // at least 25 s of stream
      long pid = Long.parseLong(Files.readString(STACK_DIR.resolve("flink/taskmanager.pid")).strip());
      long killedAt = System.nanoTime();
      new ProcessBuilder("kill", "-9", Long.toString(pid)).start().waitFor();
      // kill returns once the signal is sent: a start before the process is gone finds it "already running".
      awaitGone(pid, Duration.ofSeconds(30));
      LocalStack.stack("start", "flink"); // a new TaskManager, as a supervisor (systemd, Kubernetes) would start
      Thread.sleep(1000); // Flink sees the TaskManager gone and fails the job's tasks over
      awaitJobState(run, "RUNNING", Duration.ofSeconds(120));
      double running = secondsSince(killedAt);
      Oracle oracle = generated.get(180, TimeUnit.SECONDS);
      checkResults(run, oracle, pipeline, log);
      System.err.printf("TaskManager kill -9: job running again %.1f s after the kill; counts complete %.1f s after"
          + " the kill (the generator wrote until about 35 s after it)%n", running, secondsSince(killedAt));
      assertThat("the launcher still waits for the same job", Files.readString(log).split("submitted Flink job").length,
          equalTo(2));
    } finally {
      stop(pipeline);
    }
  }

  // SIGTERM without --savepointOnStop: on a session cluster the job is stopped with a savepoint in the cluster's own
  // savepoint directory, not cancelled.
  @Test
  void aJobStoppedWithASavepointResumesFromItWithoutLosingOrRepeating() throws Exception {
    Run run = run("savepoint");
    Path savepoints = STACK_DIR.resolve("flink/savepoints").toAbsolutePath().normalize();
    Path log = Path.of("target", "flink-savepoint-" + run.name() + ".log");
    Process first = LocalStack.startPipeline(log, run.options());
    Process second = null;
    try {
      awaitJobState(run, "RUNNING", Duration.ofSeconds(60));
      CompletableFuture<Oracle> generated = generate(run);
      Thread.sleep(20_000);
      long stoppedAt = System.nanoTime();
      first.destroy(); // SIGTERM: stop with a savepoint
      assertTrue(first.waitFor(120, TimeUnit.SECONDS), "the launcher did not stop:\n" + Files.readString(log));
      double stopSeconds = secondsSince(stoppedAt);
      Matcher savepoint = Pattern.compile("with savepoint (\\S+); resume with --savepointPath=(\\S+)")
          .matcher(Files.readString(log));
      assertTrue(savepoint.find(), "no savepoint reported:\n" + Files.readString(log));
      assertTrue(savepoint.group(1).contains(savepoints.toString()), savepoint.group(1) + " is not in " + savepoints);
      assertThat(LocalStack.newestFlinkJob(run.group()).path("state").asText(), equalTo("FINISHED"));

      Thread.sleep(5_000); // clicks keep arriving while no job runs
      long resumedAt = System.nanoTime();
      second = LocalStack.startPipeline(log, run.options("--savepointPath=" + savepoint.group(2)));
      double running = awaitJobState(run, "RUNNING", Duration.ofSeconds(60));
      Oracle oracle = generated.get(180, TimeUnit.SECONDS);
      checkResults(run, oracle, second, log);
      System.err.printf("savepoint: stopped in %.1f s; resumed job running %.1f s after its launch; counts complete"
          + " %.1f s after the launch%n", stopSeconds, running, secondsSince(resumedAt));
      // The restored job took its offsets from the savepoint: the launcher did not rewind the group under it.
      assertThat(Files.readString(log).contains("resuming group"), equalTo(false));
    } finally {
      if (first.isAlive()) {
        stop(first);
      }
      if (second != null) {
        stop(second);
      }
    }
  }

  // Partitions added while no job runs, between a savepoint and its restore: a job restored from the savepoint would
  // never read them (KafkaIO keeps its partitions in its state), so the launcher starts a fresh job instead.
  @Test
  void partitionsAddedBeforeASavepointRestoreAreRead() throws Exception {
    Run run = run("grown");
    Path log = Path.of("target", "flink-grown-" + run.name() + ".log");
    Process first = LocalStack.startPipeline(log, run.options());
    Process second = null;
    try {
      awaitJobState(run, "RUNNING", Duration.ofSeconds(60));
      Oracle before = PartitionGrowthIT.generate(run.topic(), 61);
      first.destroy(); // SIGTERM: stop with a savepoint
      assertTrue(first.waitFor(120, TimeUnit.SECONDS), "the launcher did not stop:\n" + Files.readString(log));
      Matcher savepoint = Pattern.compile("resume with --savepointPath=(\\S+)").matcher(Files.readString(log));
      assertTrue(savepoint.find(), "no savepoint reported:\n" + Files.readString(log));

      LocalStack.growTopic(run.topic(), 4);
      Oracle after = PartitionGrowthIT.generate(run.topic(), 62);
      List<Long> records = LocalStack.recordsPerPartition(run.topic());
      assertTrue(records.get(2) + records.get(3) > 0, "no records on the added partitions " + records);
      second = LocalStack.startPipeline(log, run.options("--savepointPath=" + savepoint.group(1)));
      Map<List<Long>, Long> expected = LocalStack.expectedCounts(before, after);
      Map<List<Long>, Long> actual = LocalStack.awaitCounts(run.table(), expected, second, Duration.ofSeconds(120));
      assertTrue(second.isAlive(), "the launcher ended:\n" + Files.readString(log));
      LocalStack.assertSameCounts("ClickHouse FINAL over 2, then 4 partitions", expected, actual);
      LocalStack.awaitAggregates(run.topic() + "_agg", expected);
      assertThat(Files.readString(log).contains("partitions [2, 3] of " + run.topic() + " have no offset"),
          equalTo(true));
    } finally {
      if (first.isAlive()) {
        stop(first);
      }
      if (second != null) {
        stop(second);
      }
    }
  }

  /** Waits until process {@code pid} has exited: no longer listed, or a zombie (what local-stack.sh checks too). */
  private static void awaitGone(long pid, Duration timeout) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    Path stat = Path.of("/proc", Long.toString(pid), "stat");
    while (Files.exists(stat)) {
      String fields;
      try {
        fields = Files.readString(stat);
      } catch (IOException gone) {
        return;
      }
      if (fields.substring(fields.lastIndexOf(')') + 2).startsWith("Z")) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("process " + pid + " still runs " + timeout + " after kill -9");
      }
      Thread.sleep(50);
    }
  }

  private static double secondsSince(long nanos) {
    return (System.nanoTime() - nanos) / 1e9;
  }
}
