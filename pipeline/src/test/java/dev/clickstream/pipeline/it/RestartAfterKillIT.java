package dev.clickstream.pipeline.it;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clickstream.generator.Oracle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Fault 1: the continuous pipeline is killed with SIGKILL in the middle of a live stream and started again. The
 * DirectRunner's window state dies with the process, so the new run must rewind the consumer group far enough to
 * rebuild every window that was open, and the table's versioning must keep the fuller count. The final ClickHouse
 * view and the largest Kafka aggregate (the count is the version) of every window, closed before, during or after the
 * kill, must equal the oracle.
 */
@Tag("services")
@Tag("direct-runner")
class RestartAfterKillIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);
  private static final String CLICKS = "it_kill_clicks_" + RUN;
  private static final String AGGREGATES = "it_kill_agg_" + RUN;
  private static final String TABLE = "analytics.it_kill_" + RUN;

  @Test
  void aKilledPipelineRestartsAndEndsWithTheOraclesCounts() throws Exception {
    LocalStack.requireRunning();
    Path log = Path.of("target", "restart-after-kill-" + RUN + ".log");
    String[] options = {"--inputTopic=" + CLICKS, "--outputTopic=" + AGGREGATES,
        "--deadLetterTopic=it_kill_dlq_" + RUN, "--consumerGroup=it_kill_" + RUN, "--clickHouseTable=" + TABLE,
        "--windowSize=PT5S", "--allowedLateness=PT10S", "--maxOutOfOrderness=PT1S"};
    Process first = LocalStack.startPipeline(log, options);
    Process second = null;
    try {
      Instant start = Instant.now().truncatedTo(ChronoUnit.SECONDS);
      CompletableFuture<Oracle> generated = LocalStack.generateInBackground("--topic", CLICKS, "--start",
          start.toString(), "--pace", "real", "--duration", "PT80S", "--rate", "200", "--late-fraction", "0.1",
          "--late-delay", "PT3S", "--malformed-fraction", "0.01", "--seed", "3", "--window-size", "PT5S",
          "--allowed-lateness", "PT10S", "--progress-interval", "PT10S");
      Thread.sleep(50_000);
      assertTrue(first.isAlive(), "the first run died on its own:\n" + Files.readString(log));
      first.destroyForcibly(); // SIGKILL: no shutdown hook, no last commit, window state lost
      assertTrue(first.waitFor(10, TimeUnit.SECONDS));
      long killedAt = System.nanoTime();
      second = LocalStack.startPipeline(log, options);

      Oracle oracle = generated.get(120, TimeUnit.SECONDS);
      Map<List<Long>, Long> expected = LocalStack.expectedCounts(oracle);
      Map<List<Long>, Long> actual = LocalStack.awaitCounts(TABLE, expected, second, java.time.Duration.ofSeconds(90));
      System.err.printf("restart after SIGKILL: counts complete %.1f s after the kill%n",
          (System.nanoTime() - killedAt) / 1e9);
      assertTrue(second.isAlive(), "the second run died:\n" + Files.readString(log));
      assertThat(actual, equalTo(expected));
      long aggregatesDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      Map<List<Long>, Long> largest = LocalStack.largestAggregates(AGGREGATES);
      while (!largest.equals(expected) && System.nanoTime() < aggregatesDeadline) {
        Thread.sleep(1000);
        largest = LocalStack.largestAggregates(AGGREGATES);
      }
      assertThat(largest, equalTo(expected));
      assertThat(Files.readString(log), containsString("resuming group it_kill_" + RUN));
    } finally {
      first.destroyForcibly();
      if (second != null) {
        second.destroy();
        if (!second.waitFor(30, TimeUnit.SECONDS)) {
          second.destroyForcibly();
        }
      }
    }
  }
}
