package dev.clickstream.pipeline.it;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.allOf;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clickstream.generator.ClickGenerator;
import dev.clickstream.generator.GeneratorConfig;
import dev.clickstream.pipeline.ClickCountPipeline;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.PipelineResult;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Faults 4 and 5: a table the pipeline cannot write, and bounded runs over very uneven partitions. */
@Tag("services")
class StartupAndBoundsIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);

  // A table with a wrong column type and a missing column: the pipeline refuses to start and names both, instead of
  // letting ClickHouseIO write empty inserts that "succeed".
  @Test
  void aTableThePipelineCannotWriteStopsItAtStartNamingTheColumns() throws Exception {
    LocalStack.requireRunning();
    String table = "analytics.it_wrong_" + RUN;
    LocalStack.query("CREATE TABLE " + table + " (product_id Int32, timestamp UInt64, window_end UInt64,"
        + " count UInt64, pane_index UInt64) ENGINE = MergeTree ORDER BY (product_id, timestamp)");
    IllegalStateException refused = assertThrows(IllegalStateException.class, () -> ClickCountPipeline.run(
        LocalStack.options(LocalStack.sinkOptions("it_wrong_" + RUN, table, "--from=2026-11-26T00:00:00Z",
            "--to=2026-11-26T00:01:00Z"))));
    assertThat(refused.getMessage(), allOf(containsString("column product_id is Int32, the pipeline writes UInt32"),
        containsString("column pane_timing Enum8"), containsString("is missing")));
  }

  // All clicks in one of three partitions: two partitions hold nothing of the interval. The run ends by itself,
  // quickly, with the oracle's counts.
  @Test
  void aBoundedRunOverVeryUnevenPartitionsEndsByItself() throws Exception {
    LocalStack.requireRunning();
    String topic = "it_uneven_" + RUN;
    String table = "analytics.it_uneven_" + RUN;
    LocalStack.createTopic(topic, 3);
    Instant from = Instant.now().minus(3, ChronoUnit.HOURS).truncatedTo(ChronoUnit.HOURS);
    ClickGenerator.Summary generated = ClickGenerator.run(GeneratorConfig.parse("--bootstrap-servers",
        LocalStack.KAFKA, "--topic", topic, "--start", from.toString(), "--duration", "PT2M", "--rate", "200",
        "--users", "1", "--late-fraction", "0.05", "--seed", "9"), new PrintStream(System.err, true));
    assertTrue(generated.ok());
    Map<List<Long>, Long> expected = new HashMap<>();
    generated.oracle().counts().forEach((k, v) -> expected.put(List.of(k.productId(), k.windowStart()), v));
    long started = System.nanoTime();
    assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
      PipelineResult result = ClickCountPipeline.run(LocalStack.options(LocalStack.sinkOptions(topic, table,
          "--from=" + from, "--to=" + from.plus(2, ChronoUnit.MINUTES))));
      assertThat(result.waitUntilFinish(), equalTo(PipelineResult.State.DONE));
    });
    System.err.printf("bounded run over uneven partitions: %.1f s%n", (System.nanoTime() - started) / 1e9);
    assertThat(LocalStack.finalCounts(table), equalTo(expected));
  }
}
