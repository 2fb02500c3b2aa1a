package dev.clickstream.pipeline.it;

import dev.clickstream.generator.Oracle;
import dev.clickstream.pipeline.model.ClickParser;
import dev.clickstream.pipeline.model.DeadLetter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.lessThanOrEqualTo;
import static org.junit.jupiter.api.Assertions.assertTrue;


/**
 * The continuous mode as a user runs it: the bundled jar in its own JVM, fed live clicks by three generators on one
 * partition: one with late clicks well inside the allowed lateness and a burst of ten times its rate every 10 s, one
 * whose clicks all come well after the lateness, and one
 * whose clock is three minutes behind the others', so that its clicks, in time by their own Kafka timestamps, reach
 * the partition after it passed their windows. Two of the topic's three partitions never get a record, and must not
 * hold the watermark back. The table must reach the first two oracles' counts, the third producer's clicks must all
 * be dead-lettered as window_closed (none dropped unseen); then SIGTERM must stop the process cleanly.
 */
@Tag("services")
@Tag("end-to-end")
class ContinuousRunIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);
  private static final String CLICKS = "it_live_clicks_" + RUN;
  private static final String AGGREGATES = "it_live_agg_" + RUN;
  private static final String DEAD_LETTERS = "it_live_dlq_" + RUN;
  private static final String TABLE = "analytics.it_live_" + RUN;
  private static final String GROUP = "it_live_" + RUN;
  private static final String WINDOW = "PT5S";
  private static final String LATENESS = "PT10S";

  private static CompletableFuture<Oracle> generate(Instant start, String... flags) {
    String[] common = {"--topic", CLICKS, "--start", start.toString(), "--pace", "real", "--duration", "PT20S",
        "--users", "1", "--window-size", WINDOW, "--allowed-lateness", LATENESS, "--progress-interval", "PT5S"};
    String[] all = new String[common.length + flags.length];
    System.arraycopy(common, 0, all, 0, common.length);
    System.arraycopy(flags, 0, all, common.length, flags.length);
    return LocalStack.generateInBackground(all);
  }

  @Test
  void holdsTheOraclesCountsWithIdlePartitionsThenStopsOnSigterm() throws Exception {
    LocalStack.requireRunning();
    Properties admin = new Properties();
    admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, LocalStack.KAFKA);
    try (Admin a = Admin.create(admin)) {
      a.createTopics(List.of(new NewTopic(CLICKS, Optional.of(3), Optional.empty()))).all().get();
    }
    Path log = Path.of("target", "continuous-run-" + RUN + ".log");
    Process pipeline = LocalStack.startPipeline(log, "--inputTopic=" + CLICKS, "--outputTopic=" + AGGREGATES,
        "--deadLetterTopic=" + DEAD_LETTERS, "--consumerGroup=" + GROUP, "--clickHouseTable=" + TABLE,
        "--windowSize=" + WINDOW, "--allowedLateness=" + LATENESS, "--maxOutOfOrderness=PT1S");
    try {
      Instant start = Instant.now().truncatedTo(ChronoUnit.SECONDS);
      // 3 s late: at least 6.5 s inside the 10 s of lateness. 25 s late: at least 10 s past it. 2,000 clicks/s for the
      // first 2 s of every 10 s.
      CompletableFuture<Oracle> mostlyOnTime = generate(start, "--rate", "200", "--late-fraction", "0.1",
          "--late-delay", "PT3S", "--malformed-fraction", "0.02", "--seed", "1", "--burst-rate", "2000",
          "--burst-length", "PT2S", "--burst-every", "PT10S");
      CompletableFuture<Oracle> allTooLate = generate(start, "--rate", "5", "--late-fraction", "1",
          "--late-delay", "PT25S", "--seed", "2");
      // Three seconds after the others start, so that the partition already holds their records: a partition's first
      // record is never behind it, whatever its timestamp.
      CompletableFuture<Oracle> clockBehind = generate(start.minus(3, ChronoUnit.MINUTES).plusSeconds(3),
          "--clock-offset", "-PT3M", "--rate", "10", "--seed", "3");
      Oracle a = mostlyOnTime.get(120, TimeUnit.SECONDS);
      Oracle b = allTooLate.get(120, TimeUnit.SECONDS);
      Oracle c = clockBehind.get(120, TimeUnit.SECONDS);
      assertThat(a.late(), greaterThan(0L));
      assertThat(b.tooLate(), equalTo(b.records()));
      assertThat(c.counted(), equalTo(c.records()));

      Map<List<Long>, Long> expected = LocalStack.expectedCounts(a, b);
      // The clicks of the producer whose clock is behind are dead-lettered as window_closed: the read judges each by
      // what its partition held before it. A reader restored from a checkpoint (the DirectRunner restores its readers
      // at random) has not seen what the partition held; until it reads a newer record it counts such a click, which
      // Beam's grace keeps. Either way none is lost: counted or dead-lettered, exactly once. Their windows are three
      // minutes before the others'.
      Map<List<Long>, Long> behind = LocalStack.expectedCounts(c);
      Map<List<Long>, Long> actual = LocalStack.awaitCounts(TABLE, expected, pipeline, java.time.Duration.ofSeconds(90),
          behind.keySet());
      assertTrue(pipeline.isAlive(), "the pipeline died:\n" + Files.readString(log));
      Map<List<Long>, Long> countedBehind = new HashMap<>(actual);
      countedBehind.keySet().retainAll(behind.keySet());
      actual.keySet().removeAll(behind.keySet());
      assertThat(actual, equalTo(expected));
      countedBehind.forEach((cell, count) -> assertThat(cell.toString(), count, lessThanOrEqualTo(behind.get(cell))));
      long behindCounted = countedBehind.values().stream().mapToLong(Long::longValue).sum();

      // The dead letters are written on their own path, which may trail the table by a bundle: wait for them too.
      long expectedTooLate = a.tooLate() + b.tooLate();
      Map<String, Long> byReason = new HashMap<>();
      long tooLate = -1;
      long windowClosed = -1;
      long deadLettersDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while ((tooLate != expectedTooLate || windowClosed + behindCounted != c.counted())
          && System.nanoTime() < deadLettersDeadline) {
        byReason.clear();
        for (ConsumerRecord<byte[], byte[]> r : LocalStack.readAll(DEAD_LETTERS)) {
          byReason.merge(LocalStack.header(r, DeadLetter.REASON_HEADER), 1L, Long::sum);
        }
        tooLate = byReason.getOrDefault(ClickParser.Reason.TOO_LATE.code, 0L);
        windowClosed = byReason.getOrDefault(ClickParser.Reason.WINDOW_CLOSED.code, 0L);
        if (tooLate != expectedTooLate || windowClosed + behindCounted != c.counted()) {
          Thread.sleep(1000);
        }
      }
      assertThat(tooLate, equalTo(expectedTooLate));
      assertThat("the clicks of the producer whose clock is behind, counted or dead-lettered",
          windowClosed + behindCounted, equalTo(c.counted()));
      assertThat("dead-lettered as window_closed", windowClosed, greaterThan(0L));

      // Panes, the same on every runner: a window's first firing at the watermark is ON_TIME, each later one LATE,
      // with increasing indexes (the aggregates may reach the topic out of order: docs/semantics.md, "Aggregate").
      // Whether a late click arrives after its window fired depends on the runner's watermark pace: late panes may be
      // none.
      Map<List<Long>, java.util.TreeMap<Long, String>> panes = new HashMap<>();
      for (ConsumerRecord<byte[], byte[]> r : LocalStack.readAll(AGGREGATES)) {
        com.fasterxml.jackson.databind.JsonNode json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.value());
        panes.computeIfAbsent(List.of(json.get("product_id").asLong(), json.get("window_start").asLong()),
            k -> new java.util.TreeMap<>()).put(json.get("pane_index").asLong(), json.get("pane_timing").asText());
      }
      panes.keySet().removeAll(countedBehind.keySet());
      assertThat(panes.keySet(), equalTo(expected.keySet()));
      panes.forEach((cell, byIndex) -> byIndex.forEach((index, timing) -> assertThat(cell + " pane " + index, timing,
          equalTo(index == byIndex.firstKey() && !timing.equals("LATE") ? "ON_TIME" : "LATE"))));
      assertThat(byReason.values().stream().mapToLong(Long::longValue).sum() - tooLate - windowClosed,
          equalTo(a.malformed()));

      // Offsets are committed to the consumer group as the runner finalizes what it read.
      try (Admin adm = Admin.create(admin)) {
        Map<TopicPartition, OffsetAndMetadata> committed =
            adm.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata().get();
        long total = committed.values().stream().mapToLong(OffsetAndMetadata::offset).sum();
        assertThat(total, greaterThan(0L));
        assertThat(total, lessThanOrEqualTo(a.records() + b.records() + c.records()));
      }
    } finally {
      pipeline.destroy(); // SIGTERM
      boolean exited = pipeline.waitFor(30, TimeUnit.SECONDS);
      if (!exited) {
        pipeline.destroyForcibly();
      }
      String output = Files.readString(log, StandardCharsets.UTF_8);
      assertTrue(exited, "the pipeline did not stop within 30 s of SIGTERM:\n" + tail(output));
      // On a session cluster the job is stopped with a savepoint (in the cluster's own savepoint directory); the
      // DirectRunner's run and [local]'s job, whose cluster goes with the launcher, are cancelled.
      assertThat(tail(output), containsString(LocalStack.RUNNER.equals("flink")
          ? "with a savepoint in cluster" : "stopping: cancelling the pipeline"));
      assertThat(tail(output), containsString("click-count continuous run"));
    }
  }

  private static String tail(String text) {
    return text.length() <= 4000 ? text : text.substring(text.length() - 4000);
  }
}
