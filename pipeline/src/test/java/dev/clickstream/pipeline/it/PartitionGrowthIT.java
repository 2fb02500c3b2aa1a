package dev.clickstream.pipeline.it;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.greaterThan;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clickstream.generator.Oracle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Partitions added to the input topic while a continuous run reads it, as an operator scaling Kafka out would: live
 * clicks (some late, some malformed) go to 2 partitions, the topic grows to 4, and more clicks go to all 4. KafkaIO's
 * reader keeps the partitions it started with; the launcher notices the new ones within {@code
 * --partitionCheckInterval} and starts a fresh run over all of them. ClickHouse's FINAL view and the aggregates must
 * equal both generators' oracles together: nothing on the new partitions unread, nothing counted twice. On both
 * runners; a Flink job restored from a savepoint taken before the topic grew is {@link FlinkRecoveryIT}'s.
 */
@Tag("services")
class PartitionGrowthIT {
  @Test
  void partitionsAddedWhileARunReadsAreReadAndCountedExactly() throws Exception {
    LocalStack.requireRunning();
    String id = "grow_" + Long.toString(System.currentTimeMillis(), 36);
    String topic = "it_" + id;
    String table = "analytics.it_" + id;
    LocalStack.createTopic(topic, 2);
    Path log = Path.of("target", "partition-growth-" + id + ".log");
    Process pipeline = LocalStack.startPipeline(log, "--inputTopic=" + topic, "--outputTopic=" + topic + "_agg",
        "--deadLetterTopic=" + topic + "_dlq", "--consumerGroup=" + topic, "--clickHouseTable=" + table,
        "--windowSize=PT5S", "--allowedLateness=PT10S", "--maxOutOfOrderness=PT1S", "--partitionCheckInterval=PT5S");
    try {
      Oracle before = generate(topic, 51);
      LocalStack.growTopic(topic, 4);
      Oracle after = generate(topic, 52);
      List<Long> records = LocalStack.recordsPerPartition(topic);
      assertThat("records on the added partitions " + records, records.get(2) + records.get(3), greaterThan(0L));

      Map<List<Long>, Long> expected = LocalStack.expectedCounts(before, after);
      Map<List<Long>, Long> actual = LocalStack.awaitCounts(table, expected, pipeline, Duration.ofSeconds(120));
      assertTrue(pipeline.isAlive(), "the launcher ended:\n" + Files.readString(log));
      LocalStack.assertSameCounts("ClickHouse FINAL over 2, then 4 partitions", expected, actual);
      assertThat(Files.readString(log), containsString("has 4 partitions, 2 when this run started"));
      if (LocalStack.onFlink()) {
        LocalStack.awaitAggregates(topic + "_agg", expected);
      }
    } finally {
      pipeline.destroy();
      if (!pipeline.waitFor(120, TimeUnit.SECONDS)) {
        pipeline.destroyForcibly();
      }
    }
  }

  /** 20 s of live clicks at 200/s, 10% late, 1% malformed, on every partition the topic has now. */
  static Oracle generate(String topic, int seed) throws Exception {
    return LocalStack.generateInBackground("--topic", topic, "--start",
        Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(), "--pace", "real", "--duration", "PT20S",
        "--rate", "200", "--late-fraction", "0.1", "--late-delay", "PT3S", "--malformed-fraction", "0.01",
        "--seed", Integer.toString(seed), "--window-size", "PT5S", "--allowed-lateness", "PT10S",
        "--progress-interval", "PT10S").get(120, TimeUnit.SECONDS);
  }
}
