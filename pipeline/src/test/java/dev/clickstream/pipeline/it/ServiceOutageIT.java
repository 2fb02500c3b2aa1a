package dev.clickstream.pipeline.it;

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
 * Faults 2 and 3: a service the continuous pipeline depends on goes away in the middle of a live stream and comes
 * back. The pipeline must not die, and the final ClickHouse view must equal the oracle: writes are retried with
 * backoff, reads resume.
 */
@Tag("services")
class ServiceOutageIT {
  // ClickHouse stopped for 30 s: ClickHouseIO's inserts fail and are retried with backoff until it is back.
  @Test
  void clickHouseDownForThirtySeconds() throws Exception {
    runThroughFault("clickhouse", () -> {
      LocalStack.stack("stop", "clickhouse");
      sleep(30_000);
      LocalStack.stack("start", "clickhouse");
    });
  }

  // The broker restarted: the reader, the sinks' producers and the generator reconnect.
  @Test
  void kafkaBrokerRestarted() throws Exception {
    runThroughFault("kafka", () -> {
      LocalStack.stack("stop", "kafka");
      sleep(3_000);
      LocalStack.stack("start", "kafka");
    });
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void runThroughFault(String name, Runnable fault) throws Exception {
    LocalStack.requireRunning();
    String run = name + "_" + Long.toString(System.currentTimeMillis(), 36);
    Path log = Path.of("target", "outage-" + run + ".log");
    String table = "analytics.it_outage_" + run;
    List<String> options = new java.util.ArrayList<>(List.of("--inputTopic=it_outage_clicks_" + run,
        "--outputTopic=it_outage_agg_" + run, "--deadLetterTopic=it_outage_dlq_" + run,
        "--consumerGroup=it_outage_" + run, "--clickHouseTable=" + table, "--windowSize=PT5S",
        "--allowedLateness=PT10S", "--maxOutOfOrderness=PT1S"));
    Process pipeline = LocalStack.startPipeline(log, options.toArray(String[]::new));
    try {
      Instant start = Instant.now().truncatedTo(ChronoUnit.SECONDS);
      CompletableFuture<Oracle> generated = LocalStack.generateInBackground("--topic", "it_outage_clicks_" + run,
          "--start", start.toString(), "--pace", "real", "--duration", "PT60S", "--rate", "200", "--late-fraction",
          "0.1", "--late-delay", "PT3S", "--seed", "5", "--window-size", "PT5S", "--allowed-lateness", "PT10S",
          "--progress-interval", "PT10S");
      long generating = System.nanoTime();
      Thread.sleep(Math.max(0, 15_000 - (System.nanoTime() - generating) / 1_000_000));
      long faultAt = System.nanoTime();
      fault.run();
      long recoveredAt = System.nanoTime();
      Oracle oracle = generated.get(180, TimeUnit.SECONDS);
      Map<List<Long>, Long> expected = LocalStack.expectedCounts(oracle);
      Map<List<Long>, Long> actual = LocalStack.awaitCounts(table, expected, pipeline, java.time.Duration.ofSeconds(120));
      System.err.printf("%s outage: fault took %.1f s; counts complete %.1f s after the service was back%n", name,
          (recoveredAt - faultAt) / 1e9, (System.nanoTime() - recoveredAt) / 1e9);
      assertTrue(pipeline.isAlive(), "the pipeline died:\n" + Files.readString(log));
      LocalStack.assertSameCounts("ClickHouse FINAL", expected, actual);
      if (LocalStack.onFlink()) {
        LocalStack.awaitAggregates("it_outage_agg_" + run, expected);
      }
    } finally {
      pipeline.destroy();
      if (!pipeline.waitFor(30, TimeUnit.SECONDS)) {
        pipeline.destroyForcibly();
      }
    }
  }
}
