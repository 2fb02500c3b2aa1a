package dev.clickstream.pipeline;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.testing.TestStream;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.windowing.IntervalWindow;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TimestampedValue;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.joda.time.Duration;
import org.joda.time.Instant;
import org.junit.Rule;
import org.junit.Test;

/**
 * The pipeline's timing, scripted with TestStream (after Beam's LeaderBoardTest): records are judged into {@link
 * ClickBatch}es by the readers' builder, one batch per delivery, then go through {@link ClickCountPipeline#count},
 * the same graph the runs use, continuous (one key per product) or bounded (one key per window).
 */
public class ClickCountPipelineTest {
  private static final Duration WINDOW = Duration.standardMinutes(1);
  private static final Duration LATENESS = Duration.standardMinutes(1);
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

  /** One delivery: the records judged into one batch, timestamped as the readers do. */
  private TimestampedValue<ClickBatch> batch(Settings.Interval interval, Rec... records) {
    ClickBatch.Builder builder = new ClickBatch.Builder(
        new ClickRules(WINDOW.getMillis(), LATENESS.getMillis(), interval));
    for (Rec r : records) {
      builder.add("7".getBytes(StandardCharsets.UTF_8), r.value(), "clicks", 0, offset++, r.arrival());
    }
    ClickBatch batch = builder.build();
    return TimestampedValue.of(batch, batch.timestamp());
  }

  private TimestampedValue<ClickBatch> batch(Rec... records) {
    return batch(null, records);
  }

  private static TestStream.Builder<ClickBatch> stream() {
    return TestStream.create(ClickBatch.ClickBatchCoder.of()).advanceWatermarkTo(T0);
  }

  private ClickCountPipeline.Counted count(TestStream<ClickBatch> events, boolean bounded) {
    return ClickCountPipeline.count(p.apply("Events", events), WINDOW, LATENESS, bounded);
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

  // The same through the bounded run's count, which sums all products of a window under one key.
  @Test
  public void theBoundedCountGivesTheSamePanes() {
    countsInOnTimePanes(true);
  }

  private void countsInOnTimePanes(boolean bounded) {
    TestStream<ClickBatch> events = stream()
        .addElements(batch(click(1, 5, 0), click(1, 10, 0), click(2, 20, 0)), batch(click(1, 59, 0)))
        .addElements(batch(click(2, 61, 0), click(3, 90, 1), click(1, 30, 0)))
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
    TestStream<ClickBatch> events = stream()
        .addElements(batch(click(1, 10, 0), click(1, 20, 0), click(2, 25, 0)))
        .advanceWatermarkTo(T0.plus(WINDOW).plus(Duration.standardSeconds(30)))
        .addElements(batch(click(1, 30, 60))) // arrives 30 s after the window's end: within the minute of lateness
        .advanceWatermarkToInfinity();
    PCollection<WindowCount> counts = count(events, false).counts();
    PAssert.that(counts).inOnTimePane(FIRST).containsInAnyOrder(onTime(1, FIRST, 2), onTime(2, FIRST, 1));
    PAssert.that(counts).inLatePane(FIRST).containsInAnyOrder(
        new WindowCount(1, FIRST.start().getMillis(), FIRST.end().getMillis(), 3, "LATE", 1));
    p.run().waitUntilFinish();
  }

  // A click that arrives after its window's end plus the allowed lateness: not counted, dead-lettered as too late.
  @Test
  public void clickPastTheLatenessIsDroppedAndDeadLettered() {
    TestStream<ClickBatch> events = stream()
        .addElements(batch(click(1, 10, 0)))
        .advanceWatermarkTo(T0.plus(WINDOW).plus(LATENESS).plus(Duration.standardSeconds(30)))
        .addElements(batch(click(1, 15, 110))) // arrives at 2:05, window end + lateness is 2:00
        .advanceWatermarkToInfinity();
    ClickCountPipeline.Counted counted = count(events, false);
    PAssert.that(counted.counts()).containsInAnyOrder(onTime(1, FIRST, 1));
    PAssert.that(reasons(counted)).containsInAnyOrder("too_late");
    p.run().waitUntilFinish();
  }

  // Broken records between good ones: each dead-lettered with its reason and original bytes; the good ones count.
  @Test
  public void malformedRecordsAreDeadLetteredWithAReasonAndGoodOnesStillCount() {
    TestStream<ClickBatch> events = stream()
        .addElements(batch(click(1, 1, 0), raw("hello", 2), raw("{\"user_id\":1,\"timestamp\":1}", 3),
            raw("{\"product_id\":-4,\"timestamp\":" + (T0.getMillis() + 4000) + "}", 4),
            raw("{\"product_id\":4294967296,\"timestamp\":" + T0.getMillis() + "}", 5),
            raw("{\"product_id\":4}", 6),
            raw("{\"product_id\":4,\"timestamp\":12}", 7),
            click(1, 8, 0)))
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
    Settings.Interval first = new Settings.Interval(FIRST.start().getMillis(), FIRST.end().getMillis());
    TestStream<ClickBatch> events = stream()
        .addElements(batch(first, click(1, 10, 0), raw("x", 30), click(1, 70, 0), raw("y", 75), click(2, 50, 60)))
        .advanceWatermarkToInfinity();
    ClickCountPipeline.Counted counted = count(events, true);
    PAssert.that(counted.counts()).containsInAnyOrder(onTime(1, FIRST, 1), onTime(2, FIRST, 1));
    PAssert.that(reasons(counted)).containsInAnyOrder("not_json");
    p.run().waitUntilFinish();
  }

  // A bounded run over the first window that counts the second early (--earlyTo): the second window's clicks count,
  // but a broken record that arrived in it is left to the run that owns the second window.
  @Test
  public void anEarlyPartIsCountedButItsRejectionsAreLeftToItsOwner() {
    Settings.Interval first = new Settings.Interval(FIRST.start().getMillis(), FIRST.end().getMillis());
    Settings.Interval both = new Settings.Interval(FIRST.start().getMillis(), SECOND.end().getMillis());
    ClickBatch.Builder builder = new ClickBatch.Builder(
        new ClickRules(WINDOW.getMillis(), LATENESS.getMillis(), both, first));
    for (Rec r : List.of(click(1, 10, 0), raw("x", 30), click(1, 70, 0), raw("y", 75))) {
      builder.add(null, r.value(), "clicks", 0, offset++, r.arrival());
    }
    ClickBatch b = builder.build();
    org.hamcrest.MatcherAssert.assertThat(List.of(b.counted(), b.malformed(), (long) b.deadLetters().size()),
        org.hamcrest.Matchers.equalTo(List.of(2L, 1L, 1L)));
  }

  // The batch carries how many records went which way, and its coder keeps all of it.
  @Test
  public void aBatchCountsItsRecordsAndSurvivesItsCoder() throws Exception {
    Settings.Interval first = new Settings.Interval(FIRST.start().getMillis(), FIRST.end().getMillis());
    ClickBatch b = batch(first, click(1, 10, 0), click(1, 11, 0), raw("x", 30), click(1, 70, 0), click(1, 5, 200))
        .getValue();
    List<Long> tally = new ArrayList<>(List.of(b.read(), b.counted(), b.malformed(), b.tooLate(),
        b.outsideInterval()));
    org.hamcrest.MatcherAssert.assertThat(tally, org.hamcrest.Matchers.equalTo(List.of(5L, 2L, 1L, 0L, 1L)));
    org.hamcrest.MatcherAssert.assertThat(b.cells(), org.hamcrest.Matchers.equalTo(1));
    org.hamcrest.MatcherAssert.assertThat(b.clicks()[0], org.hamcrest.Matchers.equalTo(2L));
    org.hamcrest.MatcherAssert.assertThat(b.timestamp(), org.hamcrest.Matchers.equalTo(T0));
    org.apache.beam.sdk.testing.CoderProperties.coderDecodeEncodeEqual(ClickBatch.ClickBatchCoder.of(), b);
  }

  // A batch of dead letters alone takes its first record's Kafka timestamp, kept within Beam's instants whatever a
  // producer put there.
  @Test
  public void aBatchOfDeadLettersIsTimestampedWithinBeamsRange() {
    ClickBatch.Builder builder = new ClickBatch.Builder(
        new ClickRules(WINDOW.getMillis(), LATENESS.getMillis(), null));
    builder.add(null, "x".getBytes(StandardCharsets.UTF_8), "clicks", 0, 0, Long.MAX_VALUE);
    org.hamcrest.MatcherAssert.assertThat(builder.build().timestamp(),
        org.hamcrest.Matchers.equalTo(org.apache.beam.sdk.transforms.windowing.BoundedWindow.TIMESTAMP_MAX_VALUE));
    builder.add(null, "x".getBytes(StandardCharsets.UTF_8), "clicks", 0, 1, Long.MIN_VALUE);
    org.hamcrest.MatcherAssert.assertThat(builder.build().timestamp(),
        org.hamcrest.Matchers.equalTo(org.apache.beam.sdk.transforms.windowing.BoundedWindow.TIMESTAMP_MIN_VALUE));
    builder.add(null, "x".getBytes(StandardCharsets.UTF_8), "clicks", 0, 2, T0.getMillis());
    org.hamcrest.MatcherAssert.assertThat(builder.build().timestamp(), org.hamcrest.Matchers.equalTo(T0));
  }
}
