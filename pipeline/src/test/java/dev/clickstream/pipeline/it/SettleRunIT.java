package dev.clickstream.pipeline.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clickstream.generator.Oracle;
import dev.clickstream.pipeline.ClickCountPipeline;
import dev.clickstream.pipeline.config.ClickCountOptions;
import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.launch.Supervisor;
import dev.clickstream.pipeline.model.ClickParser;
import dev.clickstream.pipeline.model.DeadLetter;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;

/**
 * The settling runs the DAG makes ({@code --settle}), one after another as the DAG's minutes would, on the real
 * Kafka and ClickHouse, over clicks written two hours back (so that every window is ripe). Each test ends with the
 * same account: every record written is either counted in ClickHouse or in the dead-letter topic, with its reason,
 * exactly once.
 */
@Tag("services")
class SettleRunIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long MINUTE = 60_000;

  /** One test's topics and table. */
  private record Names(String clicks, String aggregates, String deadLetters, String table) {
    static Names of(String test) {
      String run = test + "_" + Long.toString(System.currentTimeMillis(), 36);
      return new Names("it_settle_clicks_" + run, "it_settle_agg_" + run, "it_settle_dlq_" + run,
          "analytics.it_settle_" + run);
    }
  }

  /** One settling run, as the DAG's task runs it (its exit status: 0 done, 1 failed, 2 refused). */
  private static int settle(Names n, Instant from, Instant to, Instant earlyTo, String... extra) {
    List<String> args = new ArrayList<>(List.of("--bootstrapServers=" + LocalStack.KAFKA, "--inputTopic=" + n.clicks(),
        "--outputTopic=" + n.aggregates(), "--deadLetterTopic=" + n.deadLetters(),
        "--clickHouseUrl=" + LocalStack.CLICKHOUSE_JDBC, "--clickHouseTable=" + n.table(), "--settle=true",
        "--from=" + from, "--to=" + to, "--earlyTo=" + earlyTo));
    args.addAll(List.of(extra));
    ClickCountOptions options = LocalStack.options(args.toArray(String[]::new));
    return new Supervisor(options, Settings.from(options), ClickCountPipeline::build).runUntilDoneOrStopped();
  }

  /** The DAG's run at T: settles up to T - 2 minutes, counts up to T early; starts at T - 3 minutes with no mark. */
  private static int dagRunAt(Names n, Instant t, String... extra) {
    return settle(n, t.minus(3, ChronoUnit.MINUTES), t.minus(2, ChronoUnit.MINUTES), t, extra);
  }

  private static long settledTo(Names n) throws Exception {
    String line = LocalStack.query("SELECT max(settled_to) FROM " + n.table() + "_settled FORMAT TabSeparated").strip();
    return Long.parseLong(line);
  }

  private static Oracle generate(String topic, Instant start, String duration, long seed, String... flags)
      throws Exception {
    List<String> all = new ArrayList<>(List.of("--topic", topic, "--start", start.toString(), "--duration", duration,
        "--rate", "50", "--products", "20", "--seed", Long.toString(seed)));
    all.addAll(List.of(flags));
    return LocalStack.generateInBackground(all.toArray(String[]::new)).get(120, TimeUnit.SECONDS);
  }

  /** Every dead letter: its reason, and the source offset it came from, each once. */
  private record DeadLetters(Map<String, Long> byReason, Map<List<Long>, Long> windowClosedClicks) {}

  private static DeadLetters deadLetters(Names n) throws Exception {
    Map<String, Long> byReason = new HashMap<>();
    Map<List<Long>, Long> closed = new HashMap<>();
    Set<String> sources = new HashSet<>();
    for (ConsumerRecord<byte[], byte[]> r : LocalStack.readAll(n.deadLetters())) {
      String source = LocalStack.header(r, "dlq.source.partition") + "@" + LocalStack.header(r, "dlq.source.offset");
      assertThat("dead-lettered twice: " + source, sources.add(source), equalTo(true));
      String reason = LocalStack.header(r, DeadLetter.REASON_HEADER);
      byReason.merge(reason, 1L, Long::sum);
      if (reason.equals(ClickParser.Reason.WINDOW_CLOSED.code)) {
        JsonNode click = JSON.readTree(new String(r.value(), StandardCharsets.UTF_8));
        long time = click.get("timestamp").asLong();
        closed.merge(List.of(click.get("product_id").asLong(), Math.floorDiv(time, MINUTE) * MINUTE), 1L, Long::sum);
      }
    }
    return new DeadLetters(byReason, closed);
  }

  /** The oracles' counts less the clicks dead-lettered as window_closed. */
  private static Map<List<Long>, Long> countedOf(Map<List<Long>, Long> oracle, Map<List<Long>, Long> closed) {
    Map<List<Long>, Long> counted = new HashMap<>(oracle);
    closed.forEach((cell, n) -> counted.merge(cell, -n, Long::sum));
    counted.values().removeIf(v -> v == 0);
    return counted;
  }

  // Two producers on one partition, the second one's clock three minutes behind the first's, the DAG settling minute
  // after minute as they write. The second producer's clicks reach the partition after it has passed their windows'
  // deadlines: each is dead-lettered as window_closed by one run, never counted, never lost.
  @Test
  void aProducerWhoseClockIsBehindLosesNoClick() throws Exception {
    LocalStack.requireRunning();
    Names n = Names.of("skew");
    LocalStack.createTopic(n.clicks(), 1);
    Instant t0 = Instant.now().minus(2, ChronoUnit.HOURS).truncatedTo(ChronoUnit.HOURS);
    List<Oracle> oracles = new ArrayList<>();
    for (int m = 0; m < 6; m++) {
      Instant minute = t0.plus(m, ChronoUnit.MINUTES);
      // At wall time `minute`, the first producer writes clicks of that minute, the second of 3 minutes before.
      oracles.add(generate(n.clicks(), minute, "PT60S", 10 + m, "--late-fraction", "0.1", "--late-delay", "PT30S",
          "--malformed-fraction", "0.02"));
      oracles.add(generate(n.clicks(), minute.minus(3, ChronoUnit.MINUTES), "PT60S", 20 + m,
          "--late-fraction", "0.1", "--late-delay", "PT90S"));
      assertThat(dagRunAt(n, minute.plus(1, ChronoUnit.MINUTES)), equalTo(0));
    }
    // Then the DAG catches up to the end of the last minute's lateness.
    assertThat(dagRunAt(n, t0.plus(9, ChronoUnit.MINUTES)), equalTo(0));
    assertThat(settledTo(n), equalTo(t0.plus(7, ChronoUnit.MINUTES).toEpochMilli()));

    DeadLetters dead = deadLetters(n);
    long windowClosed = dead.byReason().getOrDefault(ClickParser.Reason.WINDOW_CLOSED.code, 0L);
    assertThat("the second producer's clicks are dead-lettered as window_closed", windowClosed, greaterThan(1000L));
    // The first run's mark starts at the partition's first record: every record is judged by one run.
    Map<List<Long>, Long> oracle = LocalStack.expectedCounts(oracles.toArray(Oracle[]::new));
    long tooLate = oracles.stream().mapToLong(Oracle::tooLate).sum();
    long malformed = oracles.stream().mapToLong(Oracle::malformed).sum();
    LocalStack.assertSameCounts("counted = the oracles' clicks less the window_closed ones",
        countedOf(oracle, dead.windowClosedClicks()), LocalStack.finalCounts(n.table()));
    assertThat(dead.byReason().getOrDefault(ClickParser.Reason.TOO_LATE.code, 0L), equalTo(tooLate));
    assertThat(dead.byReason().values().stream().mapToLong(Long::longValue).sum() - windowClosed - tooLate,
        equalTo(malformed));
  }

  // Ten minutes of clicks, settled three minutes per run (--maxSettle) as after Airflow was down: each run settles its
  // chunk and says it is behind; a click that reaches a quiet partition after its minute was settled is dead-lettered
  // as window_closed by the next run; and a run that fails after writing its dead letters but before moving the mark
  // (its newest mark row removed) is retried without writing any of them twice.
  @Test
  void aBacklogIsSettledInChunksAndEveryRecordIsJudgedOnce() throws Exception {
    LocalStack.requireRunning();
    Names n = Names.of("chunks");
    LocalStack.createTopic(n.clicks(), 2);
    Instant t0 = Instant.now().minus(2, ChronoUnit.HOURS).truncatedTo(ChronoUnit.HOURS);
    Oracle oracle = generate(n.clicks(), t0, "PT10M", 7, "--late-fraction", "0.05", "--late-delay", "PT90S",
        "--malformed-fraction", "0.02", "--partitions", "2");
    Instant end = t0.plus(10, ChronoUnit.MINUTES);

    String[] chunk = {"--maxSettle=PT3M"};
    assertThat(settle(n, t0, end, end, chunk), equalTo(0));
    assertThat(settledTo(n), equalTo(t0.plus(3, ChronoUnit.MINUTES).toEpochMilli()));

    // A straggler, in time by its own Kafka timestamp for the settled minute t0 + 1, reaches partition 1 now.
    long stamp = t0.plus(1, ChronoUnit.MINUTES).plusSeconds(10).toEpochMilli();
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, LocalStack.KAFKA);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(),
        new ByteArraySerializer())) {
      String click = "{\"product_id\":999,\"user_id\":1,\"timestamp\":" + stamp + "}";
      producer.send(new ProducerRecord<>(n.clicks(), 1, stamp, null, click.getBytes(StandardCharsets.UTF_8))).get();
    }

    assertThat(settle(n, t0, end, end, chunk), equalTo(0));
    assertThat(settledTo(n), equalTo(t0.plus(6, ChronoUnit.MINUTES).toEpochMilli()));
    Map<String, Long> afterSecond = deadLetters(n).byReason();
    // The second run failed before moving its mark: its retry judges the same offsets again.
    LocalStack.query("ALTER TABLE " + n.table() + "_settled DELETE WHERE settled_to = "
        + t0.plus(6, ChronoUnit.MINUTES).toEpochMilli());
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (settledTo(n) != t0.plus(3, ChronoUnit.MINUTES).toEpochMilli()) { // a mutation applies in the background
      assertThat("the mark row was not removed", System.nanoTime() < deadline, equalTo(true));
      Thread.sleep(200);
    }
    assertThat(settle(n, t0, end, end, chunk), equalTo(0));
    assertThat(deadLetters(n).byReason(), equalTo(afterSecond));
    assertThat(settle(n, t0, end, end, chunk), equalTo(0));
    assertThat(settle(n, t0, end, end, chunk), equalTo(0));
    assertThat(settledTo(n), equalTo(end.toEpochMilli()));
    // Caught up: a run at the same date again changes nothing and has nothing to settle.
    assertThat(settle(n, t0, end, end, chunk), equalTo(0));
    assertThat(deadLetters(n).byReason().get(ClickParser.Reason.WINDOW_CLOSED.code), equalTo(null));
    // The straggler lies past every cut so far (nothing was written after it): the next minutes' run judges it.
    Instant later = end.plus(3, ChronoUnit.MINUTES);
    assertThat(settle(n, end, later, later, chunk), equalTo(0));

    DeadLetters dead = deadLetters(n);
    assertThat(dead.byReason().get(ClickParser.Reason.WINDOW_CLOSED.code), equalTo(1L));
    assertThat(dead.windowClosedClicks(), equalTo(Map.of(List.of(999L, t0.plus(1, ChronoUnit.MINUTES).toEpochMilli()),
        1L)));
    assertThat(dead.byReason().get(ClickParser.Reason.TOO_LATE.code), equalTo(oracle.tooLate()));
    long malformed = dead.byReason().values().stream().mapToLong(Long::longValue).sum() - oracle.tooLate() - 1;
    assertThat(malformed, equalTo(oracle.malformed()));
    LocalStack.assertSameCounts("settled counts", LocalStack.expectedCounts(oracle), LocalStack.finalCounts(n.table()));
  }

  // The launcher's own account, as the DAG's task log shows it.
  @Test
  void aRunThatIsBehindSaysSo() throws Exception {
    LocalStack.requireRunning();
    Names n = Names.of("say");
    LocalStack.createTopic(n.clicks(), 1);
    Instant t0 = Instant.now().minus(2, ChronoUnit.HOURS).truncatedTo(ChronoUnit.HOURS);
    generate(n.clicks(), t0, "PT3M", 3);
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    java.io.PrintStream saved = System.out;
    System.setOut(new java.io.PrintStream(out, true, StandardCharsets.UTF_8));
    try {
      assertThat(settle(n, t0, t0.plus(3, ChronoUnit.MINUTES), t0.plus(3, ChronoUnit.MINUTES), "--maxSettle=PT1M"),
          equalTo(0));
    } finally {
      System.setOut(saved);
    }
    String printed = out.toString(StandardCharsets.UTF_8);
    assertThat(printed, containsString("click-count settled mark: " + t0.plus(1, ChronoUnit.MINUTES)));
    assertThat(printed, containsString("BEHIND: [" + t0.plus(1, ChronoUnit.MINUTES) + ", "
        + t0.plus(3, ChronoUnit.MINUTES) + ") is ripe and left to the next runs"));
  }
}
