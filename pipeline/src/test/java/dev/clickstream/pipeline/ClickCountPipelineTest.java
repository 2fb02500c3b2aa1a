package dev.clickstream.pipeline;

import java.nio.charset.StandardCharsets;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.io.kafka.KafkaRecordCoder;
import org.apache.beam.sdk.io.kafka.KafkaTimestampType;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.testing.TestStream;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.windowing.IntervalWindow;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TimestampedValue;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.joda.time.Duration;
import org.joda.time.Instant;
import org.junit.Rule;
import org.junit.Test;

/**
 * The pipeline's timing, scripted with TestStream: parse → windows → count per product, as {@link
 * ClickCountPipeline#build} wires them, one timing scenario per test (after Beam's LeaderBoardTest).
 */
public class ClickCountPipelineTest {
  private static final Duration WINDOW = Duration.standardMinutes(1);
  private static final Duration LATENESS = Duration.standardMinutes(1);
  private static final Instant T0 = Instant.parse("2026-11-26T10:00:00Z");
  private static final IntervalWindow FIRST = new IntervalWindow(T0, WINDOW);
  private static final IntervalWindow SECOND = new IntervalWindow(T0.plus(WINDOW), WINDOW);

  @Rule public final transient TestPipeline p = TestPipeline.create();

  private long offset;

  /** A click record whose event time is {@code eventSecond} after T0, arriving {@code delaySeconds} later. */
  private TimestampedValue<KafkaRecord<byte[], byte[]>> click(long productId, long eventSecond, long delaySeconds) {
    long eventTime = T0.getMillis() + eventSecond * 1000;
    String json = "{\"product_id\":" + productId + ",\"user_id\":7,\"timestamp\":" + eventTime + "}";
    return TimestampedValue.of(record(json.getBytes(StandardCharsets.UTF_8), eventTime + delaySeconds * 1000),
        new Instant(eventTime));
  }

  private TimestampedValue<KafkaRecord<byte[], byte[]>> raw(byte[] value, long arrivalSecond) {
    long arrival = T0.getMillis() + arrivalSecond * 1000;
    return TimestampedValue.of(record(value, arrival), new Instant(arrival));
  }

  private KafkaRecord<byte[], byte[]> record(byte[] value, long kafkaTimestamp) {
    return new KafkaRecord<>("clicks", 0, offset++, kafkaTimestamp, KafkaTimestampType.CREATE_TIME, null,
        "7".getBytes(StandardCharsets.UTF_8), value);
  }

  private static TestStream.Builder<KafkaRecord<byte[], byte[]>> stream() {
    return TestStream.create(KafkaRecordCoder.of(NullableCoder.of(ByteArrayCoder.of()),
        NullableCoder.of(ByteArrayCoder.of()))).advanceWatermarkTo(T0);
  }

  private PCollectionTuple parse(TestStream<KafkaRecord<byte[], byte[]>> events, Settings.Interval interval) {
    return p.apply("Events", events)
        .apply("ParseClicks", new ParseClicks(WINDOW.getMillis(), LATENESS.getMillis(), interval));
  }

  private static PCollection<WindowCount> count(PCollectionTuple parsed) {
    return parsed.get(ParseClicks.CLICKS)
        .apply("WindowClicks", ClickCountPipeline.windowing(WINDOW, LATENESS))
        .apply("CountPerProduct", new CountClicksPerProduct());
  }

  private static PCollection<String> reasons(PCollectionTuple parsed) {
    return parsed.get(ParseClicks.DEAD_LETTERS)
        .apply("Reasons", MapElements.into(TypeDescriptors.strings()).via(DeadLetter::reason));
  }

  private static WindowCount onTime(long product, IntervalWindow w, long count) {
    return new WindowCount(product, w.start().getMillis(), w.end().getMillis(), count, "ON_TIME", 0);
  }

  // Clicks of several products in two windows, all in order: one on-time pane per product and window.
  @Test
  public void countsEachProductPerWindowInOnTimePanes() {
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .addElements(click(1, 5, 0), click(1, 10, 0), click(2, 20, 0), click(1, 59, 0))
        .addElements(click(2, 61, 0), click(3, 90, 1))
        .advanceWatermarkToInfinity();
    PCollectionTuple parsed = parse(events, null);
    PCollection<WindowCount> counts = count(parsed);
    PAssert.that(counts).inOnTimePane(FIRST).containsInAnyOrder(onTime(1, FIRST, 3), onTime(2, FIRST, 1));
    PAssert.that(counts).inOnTimePane(SECOND).containsInAnyOrder(onTime(2, SECOND, 1), onTime(3, SECOND, 1));
    PAssert.that(parsed.get(ParseClicks.DEAD_LETTERS)).empty();
    p.run().waitUntilFinish();
  }

  // A click that arrives after the watermark passed its window, within the allowed lateness: the window is fired
  // again in a late pane, with the accumulated count.
  @Test
  public void lateClickWithinLatenessUpdatesItsWindowInALatePane() {
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .addElements(click(1, 10, 0), click(1, 20, 0))
        .advanceWatermarkTo(T0.plus(WINDOW).plus(Duration.standardSeconds(30)))
        .addElements(click(1, 30, 60)) // arrives 30 s after the window's end: within the minute of lateness
        .advanceWatermarkToInfinity();
    PCollection<WindowCount> counts = count(parse(events, null));
    PAssert.that(counts).inOnTimePane(FIRST).containsInAnyOrder(onTime(1, FIRST, 2));
    PAssert.that(counts).inLatePane(FIRST).containsInAnyOrder(
        new WindowCount(1, FIRST.start().getMillis(), FIRST.end().getMillis(), 3, "LATE", 1));
    p.run().waitUntilFinish();
  }

  // A click that arrives after its window's end plus the allowed lateness: not counted, dead-lettered as too late.
  @Test
  public void clickPastTheLatenessIsDroppedAndDeadLettered() {
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .addElements(click(1, 10, 0))
        .advanceWatermarkTo(T0.plus(WINDOW).plus(LATENESS).plus(Duration.standardSeconds(30)))
        .addElements(click(1, 15, 110)) // arrives at 2:05, window end + lateness is 2:00
        .advanceWatermarkToInfinity();
    PCollectionTuple parsed = parse(events, null);
    PAssert.that(count(parsed)).containsInAnyOrder(onTime(1, FIRST, 1));
    PAssert.that(reasons(parsed)).containsInAnyOrder("too_late");
    p.run().waitUntilFinish();
  }

  // Broken records between good ones: each dead-lettered with its reason and original bytes; the good ones count.
  @Test
  public void malformedRecordsAreDeadLetteredWithAReasonAndGoodOnesStillCount() {
    byte[] notJson = "hello".getBytes(StandardCharsets.UTF_8);
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .addElements(click(1, 1, 0), raw(notJson, 2),
            raw("{\"user_id\":1,\"timestamp\":1}".getBytes(StandardCharsets.UTF_8), 3),
            raw(("{\"product_id\":-4,\"timestamp\":" + (T0.getMillis() + 4000) + "}").getBytes(StandardCharsets.UTF_8), 4),
            raw(("{\"product_id\":4294967296,\"timestamp\":" + T0.getMillis() + "}").getBytes(StandardCharsets.UTF_8), 5),
            raw("{\"product_id\":4}".getBytes(StandardCharsets.UTF_8), 6),
            raw("{\"product_id\":4,\"timestamp\":12}".getBytes(StandardCharsets.UTF_8), 7),
            click(1, 8, 0))
        .advanceWatermarkToInfinity();
    PCollectionTuple parsed = parse(events, null);
    PAssert.that(count(parsed)).containsInAnyOrder(onTime(1, FIRST, 2));
    PAssert.that(reasons(parsed)).containsInAnyOrder("not_json", "product_id_missing", "product_id_out_of_range",
        "product_id_out_of_range", "timestamp_missing", "timestamp_out_of_range");
    PAssert.that(parsed.get(ParseClicks.DEAD_LETTERS)
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
    TestStream<KafkaRecord<byte[], byte[]>> events = stream()
        .addElements(click(1, 10, 0), raw("x".getBytes(StandardCharsets.UTF_8), 30), click(1, 70, 0),
            raw("y".getBytes(StandardCharsets.UTF_8), 75), click(2, 50, 60))
        .advanceWatermarkToInfinity();
    PCollectionTuple parsed = parse(events, first);
    PAssert.that(count(parsed)).containsInAnyOrder(onTime(1, FIRST, 1), onTime(2, FIRST, 1));
    PAssert.that(reasons(parsed)).containsInAnyOrder("not_json");
    p.run().waitUntilFinish();
  }
}
