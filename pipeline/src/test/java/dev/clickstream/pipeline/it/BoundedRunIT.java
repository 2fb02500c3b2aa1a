package dev.clickstream.pipeline.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clickstream.generator.ClickGenerator;
import dev.clickstream.generator.GeneratorConfig;
import dev.clickstream.generator.Oracle;
import dev.clickstream.pipeline.ClickCountPipeline;
import dev.clickstream.pipeline.model.ClickParser;
import dev.clickstream.pipeline.model.DeadLetter;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.PipelineResult;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;


/**
 * The whole path on the real local Kafka and ClickHouse: the generator writes four windows of clicks with late and
 * malformed ones, a bounded run counts them, and both sinks and the dead-letter topic must agree with the
 * generator's oracle exactly. Then the same interval again must leave ClickHouse as it was.
 */
@Tag("services")
@Tag("end-to-end")
class BoundedRunIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);
  private static final String CLICKS = "it_bounded_clicks_" + RUN;
  private static final String AGGREGATES = "it_bounded_agg_" + RUN;
  private static final String DEAD_LETTERS = "it_bounded_dlq_" + RUN;
  private static final String TABLE = "analytics.it_bounded_" + RUN;
  // Two hours back, on a minute: inside Kafka's retention, and whole windows.
  private static final Instant FROM = Instant.now().minus(2, ChronoUnit.HOURS).truncatedTo(ChronoUnit.HOURS);
  private static final Instant TO = FROM.plus(4, ChronoUnit.MINUTES);
  private static final ObjectMapper JSON = new ObjectMapper();

  private static Oracle oracle;

  @BeforeAll
  static void generate() throws Exception {
    LocalStack.requireRunning();
    GeneratorConfig config = GeneratorConfig.parse("--bootstrap-servers", LocalStack.KAFKA, "--topic", CLICKS,
        "--start", FROM.toString(), "--duration", "PT4M", "--rate", "1000", "--products", "100",
        "--popularity", "zipf:1.1", "--late-fraction", "0.05", "--late-delay", "PT90S",
        "--malformed-fraction", "0.01", "--seed", "2026");
    ClickGenerator.Summary summary = ClickGenerator.run(config, new PrintStream(System.err, true));
    assertThat(summary.ok(), equalTo(true));
    oracle = summary.oracle();
    assertThat(oracle.records(), greaterThanOrEqualTo(200_000L));
    assertThat(oracle.malformed(), greaterThan(0L));
    assertThat(oracle.tooLate(), greaterThan(0L));
  }

  private static long runBounded() {
    return runBounded(FROM, TO);
  }

  private static long runBounded(Instant from, Instant to) {
    long start = System.nanoTime();
    PipelineResult result = ClickCountPipeline.run(LocalStack.options(
        "--bootstrapServers=" + LocalStack.KAFKA, "--inputTopic=" + CLICKS, "--outputTopic=" + AGGREGATES,
        "--deadLetterTopic=" + DEAD_LETTERS, "--clickHouseUrl=" + LocalStack.CLICKHOUSE_JDBC,
        "--clickHouseTable=" + TABLE, "--from=" + from, "--to=" + to, "--targetParallelism=2"));
    assertThat(result.waitUntilFinish(), equalTo(PipelineResult.State.DONE));
    long millis = (System.nanoTime() - start) / 1_000_000;
    System.err.printf("bounded run: %,d records in %,d ms = %,.0f records/s%n", oracle.records(), millis,
        oracle.records() * 1000.0 / millis);
    return millis;
  }

  private static Map<List<Long>, Long> expected() {
    Map<List<Long>, Long> expected = new HashMap<>();
    oracle.counts().forEach((k, v) -> expected.put(List.of(k.productId(), k.windowStart()), v));
    return expected;
  }

  @Test
  void bothSinksHoldExactlyTheOraclesCountsAndARerunChangesNothing() throws Exception {
    runBounded();
    if (LocalStack.RUNNER.equals("flink")) {
      // At the cluster's parallelism 2 both slots count. One KafkaIO read takes every piece of the ranges, by exact
      // offsets, in a batch job: its pieces are shared out over both subtasks (what each received is what it read
      // from Kafka; each piece goes to a subtask at random, so with 16 pieces one gets none once in 2^15 runs), and
      // no other vertex reads Kafka.
      String job = LocalStack.newestFlinkJob("").path("jid").asText();
      LocalStack.assertEverySubtaskWorked(job, "ReadFromKafka/ReadRanges/ParMultiDo(Bounded)/ProcessKeyedElements"
          + "/NaiveProcess", "GroupReduce at CountClicks/CountPerProduct");
      List<String> reads = LocalStack.recordsReadPerSubtask(job).keySet().stream()
          .filter(vertex -> vertex.contains("NaiveProcess") || vertex.contains("ReadFromKafka/Partition")).toList();
      assertThat("vertices reading Kafka", reads.size(), equalTo(1));
    }
    Map<List<Long>, Long> expected = expected();
    assertThat(LocalStack.finalCounts(TABLE), equalTo(expected));

    // The newest aggregate per (product, window) in Kafka: a window's records share a key, hence a partition, so
    // offset order is write order.
    // A bounded run fires each window once, complete, after it read everything: one ON_TIME pane per cell.
    Map<List<Long>, Long> newest = new HashMap<>();
    Map<List<Long>, Long> panes = new HashMap<>();
    for (ConsumerRecord<byte[], byte[]> r : LocalStack.readAll(AGGREGATES)) {
      JsonNode a = JSON.readTree(r.value());
      assertThat(a.get("pane_timing").asText(), equalTo("ON_TIME"));
      panes.merge(List.of(a.get("product_id").asLong(), a.get("window_start").asLong()), 1L, Long::sum);
      assertThat(new String(r.key()), equalTo("{\"product_id\":" + a.get("product_id").asText() + ",\"window_start\":"
          + a.get("window_start").asText() + "}"));
      assertThat(a.get("window_end").asLong() - a.get("window_start").asLong(), equalTo(60_000L));
      newest.put(List.of(a.get("product_id").asLong(), a.get("window_start").asLong()), a.get("count").asLong());
    }
    assertThat(newest, equalTo(expected));
    assertThat(new java.util.HashSet<>(panes.values()), equalTo(java.util.Set.of(1L)));

    // The pipeline created the aggregates topic compacted, keeping every record for a day first.
    try (var admin = LocalStack.admin()) {
      var resource = new org.apache.kafka.common.config.ConfigResource(
          org.apache.kafka.common.config.ConfigResource.Type.TOPIC, AGGREGATES);
      var config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
      assertThat(config.get("cleanup.policy").value(), equalTo("compact"));
      assertThat(config.get("min.compaction.lag.ms").value(), equalTo("86400000"));
    }

    // Dead letters: every malformed record that arrived in the interval, and every too-late click, with a reason.
    Map<String, Long> byReason = new HashMap<>();
    for (ConsumerRecord<byte[], byte[]> r : LocalStack.readAll(DEAD_LETTERS)) {
      byReason.merge(LocalStack.header(r, DeadLetter.REASON_HEADER), 1L, Long::sum);
      assertThat(LocalStack.header(r, "dlq.source.topic"), equalTo(CLICKS));
    }
    long tooLate = byReason.getOrDefault(ClickParser.Reason.TOO_LATE.code, 0L);
    long malformed = byReason.values().stream().mapToLong(Long::longValue).sum() - tooLate;
    assertThat(malformed, equalTo(oracle.malformed()));
    assertThat(tooLate, equalTo(oracle.tooLateArrivedBeforeTo()));

    // The same interval again: ClickHouse's final view is unchanged.
    runBounded();
    assertThat(LocalStack.finalCounts(TABLE), equalTo(expected));
  }

  // Ten minutes before the generated clicks: every partition's offset range is empty; the run must end by itself.
  @Test
  void anIntervalWithNoClicksEndsByItselfAndWritesNothing() throws Exception {
    String table = TABLE + "_empty";
    Instant from = FROM.minus(10, ChronoUnit.MINUTES);
    assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
      PipelineResult result = ClickCountPipeline.run(LocalStack.options(
          "--bootstrapServers=" + LocalStack.KAFKA, "--inputTopic=" + CLICKS, "--outputTopic=" + AGGREGATES + "_empty",
          "--deadLetterTopic=" + DEAD_LETTERS + "_empty", "--clickHouseUrl=" + LocalStack.CLICKHOUSE_JDBC,
          "--clickHouseTable=" + table, "--from=" + from, "--to=" + from.plus(5, ChronoUnit.MINUTES)));
      assertThat(result.waitUntilFinish(), equalTo(PipelineResult.State.DONE));
    });
    assertThat(LocalStack.finalCounts(table), equalTo(Map.of()));
  }
}
