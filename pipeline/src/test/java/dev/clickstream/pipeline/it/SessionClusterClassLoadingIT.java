package dev.clickstream.pipeline.it;

import dev.clickstream.pipeline.io.UserCodeRelease;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.lessThanOrEqualTo;
import static org.junit.jupiter.api.Assertions.assertTrue;


/**
 * A session cluster runs job after job (the DAG submits one a minute): the TaskManager must be able to unload a
 * finished job's classes. Each job's jar gets its own class loader there; anything outside the job that keeps a
 * reference into it keeps every class of the jar in metaspace, and the TaskManager died with {@code
 * OutOfMemoryError: Metaspace} after 8 to 12 bounded jobs until the pipeline deregistered its JDBC driver, and again
 * after about 20 jobs that wrote rows (clickhouse-jdbc's idle worker threads) until their threads were let go ({@code
 * UserCodeRelease}). Counts the TaskManager's live user-code class loaders (a full GC first, by {@code jcmd
 * GC.class_histogram}) before and after three bounded jobs that read clicks and write both sinks: none may stay.
 */
@Tag("services")
@Tag("flink")
class SessionClusterClassLoadingIT {
  private static final Path STACK_DIR = Path.of(System.getenv().getOrDefault("STACK_DIR", "../.local-stack"));
  private static final Pattern LOADERS = Pattern.compile("\\s(\\d+)\\s+\\d+\\s+org\\.apache\\.flink\\.util\\.ChildFirstClassLoader\\b");

  /** Live {@code ChildFirstClassLoader}s in the TaskManager, after the full GC the histogram does. */
  private static int liveUserCodeClassLoaders() throws Exception {
    String pid = Files.readString(STACK_DIR.resolve("flink/taskmanager.pid")).strip();
    Process jcmd = new ProcessBuilder("jcmd", pid, "GC.class_histogram").redirectErrorStream(true).start();
    String histogram = new String(jcmd.getInputStream().readAllBytes());
    assertTrue(jcmd.waitFor(60, TimeUnit.SECONDS) && jcmd.exitValue() == 0, "jcmd failed:\n" + histogram);
    assertTrue(histogram.contains("org.apache.flink"), "not the TaskManager's histogram:\n" + histogram);
    Matcher m = LOADERS.matcher(histogram);
    return m.find() ? Integer.parseInt(m.group(1)) : 0;
  }

  /** Waits until the cluster runs no job: a finished job's class loader is released with its last task. */
  private static void awaitNoRunningJob() throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (LocalStack.flinkRest("/jobs/overview").findValuesAsText("state").stream()
        .anyMatch(s -> !s.equals("FINISHED") && !s.equals("CANCELED") && !s.equals("FAILED"))) {
      assertTrue(System.nanoTime() < deadline, "a job still runs on the cluster");
      Thread.sleep(500);
    }
  }

  @Test
  void finishedJobsLeaveNoClassLoaderBehind() throws Exception {
    LocalStack.requireRunning();
    assertThat("this test needs the session cluster", LocalStack.RUNNER, equalTo("flink"));
    String run = "it_classes_" + Long.toString(System.currentTimeMillis(), 36);
    LocalStack.createTopic(run, 2);
    // A minute of clicks, so that every job reads, counts and writes to ClickHouse and Kafka: what leaked is only
    // started by a write.
    java.time.Instant from = java.time.Instant.now().minus(2, java.time.temporal.ChronoUnit.HOURS)
        .truncatedTo(java.time.temporal.ChronoUnit.HOURS);
    LocalStack.generateInBackground("--topic", run, "--start", from.toString(), "--duration", "PT60S", "--rate", "50",
        "--malformed-fraction", "0.02").get(60, TimeUnit.SECONDS);
    awaitNoRunningJob();
    int before = liveUserCodeClassLoaders();
    for (int i = 0; i < 3; i++) {
      Path log = Path.of("target", run + "-" + i + ".log");
      Process job = LocalStack.startPipeline(log, "--inputTopic=" + run, "--outputTopic=" + run + "_agg",
          "--deadLetterTopic=" + run + "_dlq", "--clickHouseTable=analytics." + run,
          "--from=" + from, "--to=" + from.plusSeconds(60));
      assertTrue(job.waitFor(120, TimeUnit.SECONDS), "bounded job " + i + " did not end:\n" + Files.readString(log));
      assertThat("bounded job " + i + " failed:\n" + Files.readString(log), job.exitValue(), equalTo(0));
    }
    awaitNoRunningJob();
    // The TaskManager releases a job's class loader shortly after its last task: allow a few seconds.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    int after = liveUserCodeClassLoaders();
    while (after > before && System.nanoTime() < deadline) {
      Thread.sleep(2000);
      after = liveUserCodeClassLoaders();
    }
    System.err.printf("user-code class loaders alive in the TaskManager: %d before three bounded jobs, %d after%n",
        before, after);
    assertThat("class loaders of finished jobs still alive", after, lessThanOrEqualTo(before));
  }
}
