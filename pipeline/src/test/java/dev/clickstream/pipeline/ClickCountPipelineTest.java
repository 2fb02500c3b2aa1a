package dev.clickstream.pipeline;

import dev.clickstream.pipeline.io.ArrivalTimePolicy;
import dev.clickstream.pipeline.io.ReadClicks;
import dev.clickstream.pipeline.model.ClickRules;
import dev.clickstream.pipeline.model.DeadLetter;
import dev.clickstream.pipeline.model.Interval;
import dev.clickstream.pipeline.model.WindowCount;
import dev.clickstream.pipeline.transforms.CountClicksPerProduct;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.io.kafka.KafkaTimestampType;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.testing.TestStream;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.transforms.windowing.IntervalWindow;
import org.apache.beam.sdk.transforms.windowing.PaneInfo;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TimestampedValue;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Duration;
import org.joda.time.Instant;
import org.junit.Rule;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;

/**
 * The pipeline's timing, scripted with TestStream (after Beam's LeaderBoardTest): Kafka records, stamped with their
 * Kafka timestamps as KafkaIO's read stamps them ({@link ArrivalTimePolicy}), go through {@link ClickCountPipeline#count},
 * the same graph the runs use between the read and the sinks, continuous or bounded, in both of its shapes: the
 * DirectRunner's (one key per window before the sinks) and every other runner's (one key per product throughout); with
 * the hot-key fan-out a continuous run counts with, and without it.
 */
@RunWith(Parameterized.class)
public class ClickCountPipelineTest {
  @Parameterized.Parameters(name = "{0}")
  public static List<Object[]> shapes() {
    return List.of(new Object[] {"DirectRunner bundles, fan-out 16", true, 16},
        new Object[] {"per product, as on Flink, fan-out 16", false, 16},
        new Object[] {"per product, no fan-out", false, 1});
  }

  @Parameterized.Parameter(0)
  public String shape;

  @Parameterized.Parameter(1)
  public boolean directRunnerBundles;

  @Parameterized.Parameter(2)
  public int hotKeyFanout;

  private static final Duration WINDOW = Duration.standardMinutes(1);
  private static final Duration LATENESS = Duration.standardMinutes(1);
  private static final Duration LATE_FIRING_DELAY = Duration.standardSeconds(5);
  private static final Instant PROCESSING_START = new Instant(1_000);
  private static final Instant T0 = Instant.parse("2026-11-26T10:00:00Z");
  private static final IntervalWindow FIRST = new IntervalWindow(T0, WINDOW);
  private static final IntervalWindow SECOND = new IntervalWindow(T0.plus(WINDOW), WINDOW);

  @Rule public final transient TestPipeline p = TestPipeline.create();

  private long offset;

  /** A record as a reader sees it: its value and its Kafka timestamp. */
  private record Rec(byte[] value, long arrival) {}

  /** A click whose event time is {@code eventSecond} after T0, arriving {@code delaySeconds} later. */
  private static Rec click(long productId, long eventSecond, long delaySeconds) {
    long eventTime = T0.getMillis() + eventSecond * 1000;
    String json = "{\"product_id\":" + productId + ",\"user_id\":7,\"timestamp\":" + eventTime + "}";
    return new Rec(json.getBytes(StandardCharsets.UTF_8), eventTime + delaySeconds * 1000);
  }

  private static Rec raw(String value, long arrivalSecond) {
    return new Rec(value.getBytes(StandardCharsets.UTF_8), T0.getMillis() + arrivalSecond * 1000);
  }

  /**
   * One delivery: Kafka records (key "7", partition 0), each stamped with its Kafka timestamp, or with {@code readTime}
   * when that is later (a continuous read raises a record behind what its partition already held to it).
   */
  @SuppressWarnings("unchecked")
  private TimestampedValue<KafkaRecord<byte[], byte[]>>[] records(long readTime, Rec... records) {
    List<TimestampedValue<KafkaRecord<byte[], byte[]>>> out = new ArrayList<>();
    for (Rec r : records) {
      out.add(TimestampedValue.of(new KafkaRecord<>("clicks", 0, offset++, r.arrival(), KafkaTimestampType.CREATE_TIME,
          null, "7".getBytes(StandardCharsets.UTF_8), r.value()),
          new Instant(Math.max(readTime, ArrivalTimePolicy.clamp(r.arrival())))));
    }
    return out.toArray(TimestampedValue[]::new);
  }

  /**
   * A TestStream of deliveries, each a group of records read together. Its processing time starts at {@link
   * #PROCESSING_START}, 1 s after the epoch (the DirectRunner's test clock starts at the least instant), so that the
   * late panes' firing instants, multiples of the late-firing delay, are known.
   */
  private final class Stream {
    private TestStream.Builder<KafkaRecord<byte[], byte[]>> builder = TestStream.create(ReadClicks.CODER)
        .advanceProcessingTime(new Duration(BoundedWindow.TIMESTAMP_MIN_VALUE, PROCESSING_START))
        .advanceWatermarkTo(T0);

    Stream deliver(Rec... recs) {
      return deliverReadAt(Long.MIN_VALUE, recs);
    }

    Stream deliverReadAt(long readTime, Rec... recs) {
      TimestampedValue<KafkaRecord<byte[], byte[]>>[] all = records(readTime, recs);
      builder = builder.addElements(all[0], java.util.Arrays.copyOfRange(all, 1, all.length));
      return this;
    }

    Stream advanceWatermarkTo(Instant t) {
      builder = builder.advanceWatermarkTo(t);
      return this;
    }

    Stream advanceProcessingTime(Duration d) {
      builder = builder.advanceProcessingTime(d);
      return this;
    }

    TestStream<KafkaRecord<byte[], byte[]>> advanceWatermarkToInfinity() {
      return builder.advanceWatermarkToInfinity();
    }
  }

  private Stream stream() {
    return new Stream();
  }

  private ClickCountPipeline.Counted count(TestStream<KafkaRecord<byte[], byte[]>> events,
      @Nullable Interval interval, boolean bounded) {
    ClickRules rules = new ClickRules(WINDOW.getMillis(), LATENESS.getMillis(), interval);
    if (!bounded) {
      rules = rules.closingByReadTime(); // as ClickCountPipeline.build does
    }
    return ClickCountPipeline.count(p.apply("Events", events), rules, WINDOW, LATENESS, LATE_FIRING_DELAY,
        hotKeyFanout, bounded, directRunnerBundles);
  }

  private ClickCountPipeline.Counted count(TestStream<KafkaRecord<byte[], byte[]>> events, boolean bounded) {
    return count(events, null, bounded);
  }

  private static PCollection<String> reasons(ClickCountPipeline.Counted counted) {
    return counted.deadLetters()
        .apply("Reasons", MapElements.into(TypeDescriptors.strings()).via(DeadLetter::reason));
  }

  private static WindowCount onTime(long product, IntervalWindow w, long count) {
    return new WindowCount(product, w.start().getMillis(), w.end().getMillis(), count, "ON_TIME", 0);
  }

  // Clicks of several products in two windows, all in order: one on-time pane per product and window.
  @Test
  public void countsEachProductPerWindowInOnTimePanes() {
    countsInOnTimePanes(false);
  }

  // The same through the bounded run's count, under Beam's default trigger.
  @Test
  public void theBoundedCountGivesTheSamePanes() {
    countsInOnTimePanes(true);
  }

  private void countsInOnTimePanes(boolean bounded) {
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .deliver(click(1, 5, 0), click(1, 10, 0), click(2, 20, 0))
        .deliver(click(1, 59, 0))
        .deliver(click(2, 61, 0), click(3, 90, 1), click(1, 30, 0))
        .advanceWatermarkToInfinity();
    ClickCountPipeline.Counted counted = count(events, bounded);
    PAssert.that(counted.counts()).inOnTimePane(FIRST)
        .containsInAnyOrder(onTime(1, FIRST, 4), onTime(2, FIRST, 1));
    PAssert.that(counted.counts()).inOnTimePane(SECOND)
        .containsInAnyOrder(onTime(2, SECOND, 1), onTime(3, SECOND, 1));
    PAssert.that(counted.deadLetters()).empty();
    p.run().waitUntilFinish();
  }

  // A click that arrives after the watermark passed its window, within the allowed lateness: the window is fired
  // again in a late pane, for that product only, with the accumulated count.
  @Test
  public void lateClickWithinLatenessUpdatesItsProductInALatePane() {
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .deliver(click(1, 10, 0), click(1, 20, 0), click(2, 25, 0))
        .advanceWatermarkTo(T0.plus(WINDOW).plus(Duration.standardSeconds(30)))
        .deliver(click(1, 30, 60)) // arrives 30 s after the window's end: within the minute of lateness
        .advanceWatermarkToInfinity();
    PCollection<WindowCount> counts = count(events, false).counts();
    PAssert.that(counts).inOnTimePane(FIRST).containsInAnyOrder(onTime(1, FIRST, 2), onTime(2, FIRST, 1));
    PAssert.that(counts).inLatePane(FIRST).containsInAnyOrder(
        new WindowCount(1, FIRST.start().getMillis(), FIRST.end().getMillis(), 3, "LATE", 1));
    p.run().waitUntilFinish();
  }

  // Late clicks of one product that arrive one after another (five reads, as a steady stream of late clicks comes)
  // fire one late pane at the next multiple of the late-firing delay: one ClickHouse row and one Kafka record for the
  // five, with the accumulated count, rather than one per read. A late click after that fires the next pane, at the
  // next multiple, while the window is still open.
  @Test
  public void lateClicksArrivingTogetherFireOneLatePane() {
    Stream stream = stream()
        .deliver(click(1, 10, 0), click(1, 20, 0))
        .advanceWatermarkTo(T0.plus(WINDOW).plus(Duration.standardSeconds(30)));
    for (int i = 0; i < 5; i++) {
      stream = stream.deliver(click(1, 30 + i, 60));
    }
    TestStream<KafkaRecord<byte[], byte[]>> events = stream
        .advanceProcessingTime(LATE_FIRING_DELAY.plus(Duration.millis(1)))
        .deliver(click(1, 40, 60))
        .advanceProcessingTime(LATE_FIRING_DELAY.plus(Duration.millis(1)))
        .advanceWatermarkToInfinity();
    PCollection<WindowCount> counts = count(events, false).counts();
    PAssert.that(counts).inOnTimePane(FIRST).containsInAnyOrder(onTime(1, FIRST, 2));
    if (hotKeyFanout > 1) {
      PAssert.that(counts).inWindow(FIRST).satisfies(panes -> latePanesGrowTo(panes, Map.of(1L, 8L)));
    } else {
      PAssert.that(counts).inWindow(FIRST).containsInAnyOrder(onTime(1, FIRST, 2),
          new WindowCount(1, FIRST.start().getMillis(), FIRST.end().getMillis(), 7, "LATE", 1),
          new WindowCount(1, FIRST.start().getMillis(), FIRST.end().getMillis(), 8, "LATE", 2));
    }
    p.run().waitUntilFinish();
  }

  /**
   * With the hot-key fan-out, each shard fires its late clicks' count at an aligned instant, and the product's sum fires
   * when those counts reach it: at the next instant, or at once when one arrives on the instant itself, as on the
   * DirectRunner's test clock, which stands still while the shards fire, so there the shards' counts may come out in
   * separate panes. Which panes there are is a race; what holds: each product's late panes follow its on-time pane
   * with the next indexes, their counts only grow (so there are never more of them than late clicks), and the last
   * one has every click.
   */
  private static Void latePanesGrowTo(Iterable<WindowCount> panes, Map<Long, Long> finalCounts) {
    Map<Long, List<WindowCount>> perProduct = new TreeMap<>();
    for (WindowCount c : panes) {
      perProduct.computeIfAbsent(c.productId(), k -> new ArrayList<>()).add(c);
    }
    org.junit.Assert.assertEquals(finalCounts.keySet(), perProduct.keySet());
    perProduct.forEach((product, list) -> {
      list.sort(Comparator.comparingLong(WindowCount::paneIndex));
      String seen = product + ": " + list;
      org.junit.Assert.assertEquals(seen, "ON_TIME", list.get(0).timing());
      org.junit.Assert.assertTrue(seen, list.size() >= 2);
      for (int i = 1; i < list.size(); i++) {
        org.junit.Assert.assertEquals(seen, "LATE", list.get(i).timing());
        org.junit.Assert.assertEquals(seen, i, list.get(i).paneIndex());
        org.junit.Assert.assertTrue(seen, list.get(i).count() > list.get(i - 1).count());
      }
      org.junit.Assert.assertEquals(seen, (long) finalCounts.get(product), list.get(list.size() - 1).count());
    });
    return null;
  }

  // Late clicks of two products read 2 s apart fire together, at the next multiple of the late-firing delay on the wall
  // clock (5 s), rather than each 5 s after its own first: the panes of every product reach the sinks in one bundle,
  // one ClickHouse insert, instead of an insert per product. Late clicks read after that instant fire at the next one.
  @Test
  public void lateClicksOfDifferentProductsFireAtTheSameAlignedInstant() {
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .deliver(click(1, 10, 0), click(2, 20, 0))
        .advanceWatermarkTo(T0.plus(WINDOW).plus(Duration.standardSeconds(30)))
        .deliver(click(1, 30, 60)) // processing time 1 s
        .advanceProcessingTime(Duration.standardSeconds(2))
        .deliver(click(2, 31, 60)) // 3 s
        .advanceProcessingTime(Duration.millis(2_500)) // 5.5 s: both fired at 5 s
        .deliver(click(1, 32, 60), click(2, 33, 60))
        .advanceProcessingTime(LATE_FIRING_DELAY) // 10.5 s: both fired at 10 s
        .advanceWatermarkToInfinity();
    PCollection<WindowCount> counts = count(events, false).counts();
    long start = FIRST.start().getMillis();
    long end = FIRST.end().getMillis();
    if (hotKeyFanout > 1) {
      PAssert.that(counts).inWindow(FIRST).satisfies(panes -> latePanesGrowTo(panes, Map.of(1L, 3L, 2L, 3L)));
    } else {
      PAssert.that(counts).inWindow(FIRST).containsInAnyOrder(onTime(1, FIRST, 1), onTime(2, FIRST, 1),
          new WindowCount(1, start, end, 2, "LATE", 1), new WindowCount(2, start, end, 2, "LATE", 1),
          new WindowCount(1, start, end, 3, "LATE", 2), new WindowCount(2, start, end, 3, "LATE", 2));
    }
    p.run().waitUntilFinish();
  }

  // A click that arrives after its window's end plus the allowed lateness: not counted, dead-lettered as too late.
  @Test
  public void clickPastTheLatenessIsDroppedAndDeadLettered() {
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .deliver(click(1, 10, 0))
        .advanceWatermarkTo(T0.plus(WINDOW).plus(LATENESS).plus(Duration.standardSeconds(30)))
        .deliver(click(1, 15, 110)) // arrives at 2:05, window end + lateness is 2:00
        .advanceWatermarkToInfinity();
    ClickCountPipeline.Counted counted = count(events, false);
    PAssert.that(counted.counts()).containsInAnyOrder(onTime(1, FIRST, 1));
    PAssert.that(reasons(counted)).containsInAnyOrder("too_late");
    p.run().waitUntilFinish();
  }

  // A click in time by its own Kafka timestamp from a producer whose clock is minutes behind: the read raises it to
  // what its partition already held, past its window's deadline. Dead-lettered as window_closed, not dropped unseen.
  @Test
  public void aClickReadAfterItsWindowClosedIsDeadLetteredNotDropped() {
    Instant watermark = T0.plus(WINDOW).plus(LATENESS).plus(ClickRules.WATERMARK_GRACE)
        .plus(Duration.standardMinutes(1));
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .deliver(click(1, 10, 0))
        .advanceWatermarkTo(watermark)
        .deliverReadAt(watermark.getMillis(), click(1, 30, 60)) // stamped 1:30, within the lateness
        .advanceWatermarkToInfinity();
    ClickCountPipeline.Counted counted = count(events, false);
    PAssert.that(counted.counts()).containsInAnyOrder(onTime(1, FIRST, 1));
    PAssert.that(reasons(counted)).containsInAnyOrder("window_closed");
    p.run().waitUntilFinish();
  }

  // Broken records between good ones: each dead-lettered with its reason and original bytes; the good ones count.
  @Test
  public void malformedRecordsAreDeadLetteredWithAReasonAndGoodOnesStillCount() {
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .deliver(click(1, 1, 0), raw("hello", 2), raw("{\"user_id\":1,\"timestamp\":1}", 3),
            raw("{\"product_id\":-4,\"timestamp\":" + (T0.getMillis() + 4000) + "}", 4),
            raw("{\"product_id\":4294967296,\"timestamp\":" + T0.getMillis() + "}", 5),
            raw("{\"product_id\":4}", 6),
            raw("{\"product_id\":4,\"timestamp\":12}", 7),
            click(1, 8, 0))
        .advanceWatermarkToInfinity();
    ClickCountPipeline.Counted counted = count(events, false);
    PAssert.that(counted.counts()).containsInAnyOrder(onTime(1, FIRST, 2));
    PAssert.that(reasons(counted)).containsInAnyOrder("not_json", "product_id_missing", "product_id_out_of_range",
        "product_id_out_of_range", "timestamp_missing", "timestamp_out_of_range");
    PAssert.that(counted.deadLetters()
            .apply("Values", MapElements.into(TypeDescriptors.strings())
                .via(d -> new String(d.value(), StandardCharsets.UTF_8))))
        .satisfies(values -> {
          org.hamcrest.MatcherAssert.assertThat(values, org.hamcrest.Matchers.hasItem("hello"));
          return null;
        });
    p.run().waitUntilFinish();
  }

  // A bounded run over the first window: clicks of the second window are someone else's, and so is a broken record
  // that arrived after the interval; a broken record that arrived inside it is this run's to dead-letter.
  @Test
  public void boundedRunCountsItsIntervalAndDeadLettersWhatArrivedInIt() {
    Interval first = new Interval(FIRST.start().getMillis(), FIRST.end().getMillis());
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .deliver(click(1, 10, 0), raw("x", 30), click(1, 70, 0), raw("y", 75), click(2, 50, 60))
        .advanceWatermarkToInfinity();
    ClickCountPipeline.Counted counted = count(events, first, true);
    PAssert.that(counted.counts()).containsInAnyOrder(onTime(1, FIRST, 1), onTime(2, FIRST, 1));
    PAssert.that(reasons(counted)).containsInAnyOrder("not_json");
    p.run().waitUntilFinish();
  }

  // A bounded run over the first window that counts the second early (--earlyTo): the second window's clicks count,
  // but a broken record that arrived in it is left to the run that owns the second window.
  @Test
  public void anEarlyPartIsCountedButItsRejectionsAreLeftToItsOwner() {
    Interval first = new Interval(FIRST.start().getMillis(), FIRST.end().getMillis());
    Interval both = new Interval(FIRST.start().getMillis(), SECOND.end().getMillis());
    ClickRules rules = new ClickRules(WINDOW.getMillis(), LATENESS.getMillis(), both, first);
    List<ClickRules.Kind> kinds = new ArrayList<>();
    for (Rec r : List.of(click(1, 10, 0), raw("x", 30), click(1, 70, 0), raw("y", 75))) {
      kinds.add(rules.judge(r.value(), r.arrival()).kind());
    }
    org.hamcrest.MatcherAssert.assertThat(kinds, org.hamcrest.Matchers.equalTo(List.of(ClickRules.Kind.COUNT,
        ClickRules.Kind.MALFORMED, ClickRules.Kind.COUNT, ClickRules.Kind.NOT_OWNED)));
  }

  // A click's event time may lie up to the window and its lateness before its Kafka timestamp: it moves back to it.
  @Test
  public void aClickIsCountedInTheWindowOfItsEventTimeNotItsArrival() {
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .deliver(click(1, 59, 60), click(2, 0, 0)) // the first arrives at 1:59, within the lateness
        .advanceWatermarkToInfinity();
    ClickCountPipeline.Counted counted = count(events, false);
    PAssert.that(counted.counts()).inOnTimePane(FIRST).containsInAnyOrder(onTime(1, FIRST, 1), onTime(2, FIRST, 1));
    p.run().waitUntilFinish();
  }

  // A producer may stamp a record with any long: the read's stamp is kept within Beam's instants.
  @Test
  public void kafkaTimestampsAreKeptWithinBeamsRange() {
    org.hamcrest.MatcherAssert.assertThat(ArrivalTimePolicy.clamp(Long.MAX_VALUE),
        org.hamcrest.Matchers.equalTo(org.apache.beam.sdk.transforms.windowing.BoundedWindow.TIMESTAMP_MAX_VALUE.getMillis()));
    org.hamcrest.MatcherAssert.assertThat(ArrivalTimePolicy.clamp(Long.MIN_VALUE),
        org.hamcrest.Matchers.equalTo(org.apache.beam.sdk.transforms.windowing.BoundedWindow.TIMESTAMP_MIN_VALUE.getMillis()));
    org.hamcrest.MatcherAssert.assertThat(ArrivalTimePolicy.clamp(T0.getMillis()),
        org.hamcrest.Matchers.equalTo(T0.getMillis()));
  }

  @Test
  public void aBoundedRunWritesTheSingleFiringOfABatchRunnerAsItsOnTimePane() {
    // Flink's batch translation reports no pane: the one, complete firing of a bounded run is its on-time pane.
    PaneInfo complete = CountClicksPerProduct.paneOfCompleteWindow(PaneInfo.NO_FIRING);
    org.junit.Assert.assertEquals(PaneInfo.Timing.ON_TIME, complete.getTiming());
    org.junit.Assert.assertEquals(0, complete.getIndex());
    org.junit.Assert.assertTrue(complete.isFirst() && complete.isLast());
    // A pane a runner did report is left as it is.
    PaneInfo late = PaneInfo.createPane(false, false, PaneInfo.Timing.LATE, 2, 1);
    org.junit.Assert.assertSame(late, CountClicksPerProduct.paneOfCompleteWindow(late));
  }
}
