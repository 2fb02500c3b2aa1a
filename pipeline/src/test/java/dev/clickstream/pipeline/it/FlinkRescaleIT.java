package dev.clickstream.pipeline.it;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.clickstream.generator.Oracle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Growing and shrinking a continuous job on a session cluster of two TaskManagers (four slots): live clicks (some
 * late, some malformed) on a topic of 24 partitions are counted by a job at parallelism 2, stopped with a savepoint,
 * resumed from it at parallelism 4, stopped again and resumed at 2. ClickHouse's FINAL view must equal the oracle:
 * the read offsets and the open windows moved between subtasks without a click lost or counted twice. Each stop is
 * watched through the job's REST page, as from Flink's web UI, and the stopped launcher's summary must still give the
 * records it read. Runs only in the flink-session-cluster execution (pipeline/pom.xml).
 */
@Tag("services")
@Tag("flink")
class FlinkRescaleIT {
  private static final int PARTITIONS = 24;

  @Test
  void aJobStoppedWithASavepointResumesAtTwiceAndThenHalfItsParallelismWithExactCounts() throws Exception {
    LocalStack.requireRunning();
    assertThat("FlinkRescaleIT needs the session cluster", LocalStack.RUNNER, equalTo("flink"));
    String id = "rescale_" + Long.toString(System.currentTimeMillis(), 36);
    String topic = "it_flink_" + id;
    String table = "analytics.it_flink_" + id;
    List<String> base = List.of("--inputTopic=" + topic, "--outputTopic=" + topic + "_agg",
        "--deadLetterTopic=" + topic + "_dlq", "--consumerGroup=" + topic, "--clickHouseTable=" + table,
        "--windowSize=PT5S", "--allowedLateness=PT10S", "--maxOutOfOrderness=PT1S");
    LocalStack.createTopic(topic, PARTITIONS);
    Path log = Path.of("target", "flink-rescale-" + id + ".log");
    LocalStack.stack("start", "taskmanager2");
    List<Process> launchers = new ArrayList<>();
    try {
      awaitSlots(4);
      CompletableFuture<Oracle> generated = LocalStack.generateInBackground("--topic", topic, "--start",
          Instant.now().plusSeconds(20).truncatedTo(ChronoUnit.SECONDS).toString(), "--pace", "real",
          "--duration", "PT90S", "--rate", "200", "--late-fraction", "0.1", "--late-delay", "PT3S",
          "--malformed-fraction", "0.01", "--seed", "21", "--window-size", "PT5S", "--allowed-lateness", "PT10S",
          "--progress-interval", "PT15S");
      String savepoint = null;
      int[] parallelisms = {2, 4, 2};
      for (int i = 0; i < parallelisms.length; i++) {
        List<String> options = new ArrayList<>(base);
        options.add("--parallelism=" + parallelisms[i]);
        if (savepoint != null) {
          options.add("--savepointPath=" + savepoint);
        }
        Process launcher = LocalStack.startPipeline(log, options.toArray(String[]::new));
        launchers.add(launcher);
        String jobId = awaitRunning(topic, launcher, log);
        assertThat("the source's parallelism of job " + jobId, sourceParallelism(jobId), equalTo(parallelisms[i]));
        if (i == parallelisms.length - 1) {
          break;
        }
        Thread.sleep(30_000); // clicks counted at this parallelism, windows open when it stops
        int before = savepoints(log);
        // Someone watches the job in Flink's web UI while it stops: its REST cache then holds the running job's graph,
        // whose metrics are empty, for a few seconds after the job ended. The launcher's summary must not read them.
        CompletableFuture<Void> watching = CompletableFuture.runAsync(() -> watch(jobId, launcher));
        launcher.destroy(); // SIGTERM: stop with a savepoint in the cluster's folder
        assertTrue(launcher.waitFor(120, TimeUnit.SECONDS), "the launcher did not stop:\n" + Files.readString(log));
        watching.get(10, TimeUnit.SECONDS);
        Matcher summaries = LocalStack.SUMMARY_READ.matcher(Files.readString(log));
        long read = -1;
        while (summaries.find()) {
          read = Long.parseLong(summaries.group(1).replace(",", ""));
        }
        assertTrue(read > 0, "the summary of the stopped job at parallelism " + parallelisms[i] + " read " + read
            + " records:\n" + Files.readString(log));
        Matcher reported = Pattern.compile("resume with --savepointPath=(\\S+)").matcher(Files.readString(log));
        List<String> all = new ArrayList<>();
        while (reported.find()) {
          all.add(reported.group(1));
        }
        assertThat("savepoints reported", all.size(), equalTo(before + 1));
        savepoint = all.get(all.size() - 1);
      }
      Process last = launchers.get(launchers.size() - 1);
      Oracle oracle = generated.get(240, TimeUnit.SECONDS);
      Map<List<Long>, Long> expected = LocalStack.expectedCounts(oracle);
      Map<List<Long>, Long> actual = LocalStack.awaitCounts(table, expected, last, Duration.ofSeconds(120));
      assertTrue(last.isAlive(), "the launcher ended:\n" + Files.readString(log));
      LocalStack.assertSameCounts("ClickHouse FINAL after 2 -> 4 -> 2", expected, actual);
      // The dead letters too, each once (they are written on their own path and may trail the table by a bundle).
      long expectedDeadLetters = oracle.malformed() + oracle.tooLate();
      assertTrue(expectedDeadLetters > 0, "the generator wrote no malformed click");
      long deadLetters = -1;
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (deadLetters != expectedDeadLetters && System.nanoTime() < deadline) {
        deadLetters = LocalStack.readAll(topic + "_dlq").size();
        Thread.sleep(deadLetters == expectedDeadLetters ? 0 : 1000);
      }
      assertThat("dead letters", deadLetters, equalTo(expectedDeadLetters));
    } finally {
      for (Process launcher : launchers) {
        if (launcher.isAlive()) {
          launcher.destroy();
          if (!launcher.waitFor(120, TimeUnit.SECONDS)) {
            launcher.destroyForcibly();
          }
        }
      }
      LocalStack.stack("stop", "taskmanager2");
    }
  }

  /** Asks for the job's page every 250 ms, as Flink's web UI does, until the launcher has ended. */
  private static void watch(String jobId, Process launcher) {
    while (launcher.isAlive()) {
      try {
        LocalStack.flinkRest("/jobs/" + jobId);
        Thread.sleep(250);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (java.io.IOException | RuntimeException e) {
        return;
      }
    }
  }

  private static int savepoints(Path log) throws Exception {
    return Files.readString(log).split("resume with --savepointPath=", -1).length - 1;
  }

  private static void awaitSlots(int slots) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (LocalStack.flinkRest("/overview").path("slots-total").asInt() < slots) {
      if (System.nanoTime() > deadline) {
        fail("the session cluster did not offer " + slots + " slots: " + LocalStack.flinkRest("/overview"));
      }
      Thread.sleep(250);
    }
  }

  /** Waits until the group's newest job and all of its tasks run; its id. */
  private static String awaitRunning(String group, Process launcher, Path log) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
    while (System.nanoTime() < deadline) {
      assertTrue(launcher.isAlive(), "the launcher ended:\n" + Files.readString(log));
      JsonNode job = LocalStack.newestFlinkJobIfAny(group);
      if (job != null && job.path("state").asText().equals("RUNNING")) {
        String jobId = job.path("jid").asText();
        boolean all = true;
        for (JsonNode vertex : LocalStack.flinkRest("/jobs/" + jobId).path("vertices")) {
          all &= vertex.path("status").asText().equals("RUNNING");
        }
        if (all) {
          return jobId;
        }
      }
      Thread.sleep(250);
    }
    fail("the job of " + group + " did not run within 120 s:\n" + Files.readString(log));
    return null;
  }

  private static int sourceParallelism(String jobId) throws Exception {
    for (JsonNode vertex : LocalStack.flinkRest("/jobs/" + jobId).path("vertices")) {
      if (vertex.path("name").asText().contains("Read")) {
        return vertex.path("parallelism").asInt();
      }
    }
    fail("no source vertex in job " + jobId + ": " + LocalStack.flinkRest("/jobs/" + jobId).path("vertices"));
    return -1;
  }
}
