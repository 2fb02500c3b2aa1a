package dev.clickstream.pipeline;

import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Instant;

/**
 * Kafka records to clicks, stamped with their event time, and dead letters for everything else. Never throws on
 * input.
 *
 * <p>Lateness is decided here, by arrival: a click counts only if its Kafka timestamp is no later than its window's
 * end plus the allowed lateness; otherwise it is dead-lettered as {@code too_late}. That makes a bounded run
 * independent of bundle boundaries and watermarks. Given an interval (a bounded run's [from, to), or a resumed
 * continuous run's [first window to rebuild, +inf)), only clicks with event time in the interval are counted, and a
 * rejected record is dead-lettered by the run whose interval holds its Kafka timestamp, so consecutive runs count
 * every click once and dead-letter every rejection once.
 */
public final class ParseClicks extends PTransform<PCollection<KafkaRecord<byte[], byte[]>>, PCollectionTuple> {

  public static final TupleTag<Click> CLICKS = new TupleTag<>() {};
  public static final TupleTag<DeadLetter> DEAD_LETTERS = new TupleTag<>() {};

  /** Metric names, in the {@value #NAMESPACE} namespace. */
  public static final String NAMESPACE = "clicks";
  public static final String PARSED = "parsed";
  public static final String MALFORMED = "malformed";
  public static final String TOO_LATE = "dropped_too_late";
  public static final String OUTSIDE_INTERVAL = "outside_interval";

  private final long windowSizeMillis;
  private final long allowedLatenessMillis;
  private final Settings.@Nullable Interval interval;

  public ParseClicks(long windowSizeMillis, long allowedLatenessMillis, Settings.@Nullable Interval interval) {
    this.windowSizeMillis = windowSizeMillis;
    this.allowedLatenessMillis = allowedLatenessMillis;
    this.interval = interval;
  }

  @Override
  public PCollectionTuple expand(PCollection<KafkaRecord<byte[], byte[]>> records) {
    PCollectionTuple out = records.apply("Parse",
        ParDo.of(new ParseFn(windowSizeMillis, allowedLatenessMillis, interval))
            .withOutputTags(CLICKS, TupleTagList.of(DEAD_LETTERS)));
    out.get(CLICKS).setCoder(Click.ClickCoder.of());
    out.get(DEAD_LETTERS).setCoder(DeadLetter.DeadLetterCoder.of());
    return out;
  }

  static final class ParseFn extends DoFn<KafkaRecord<byte[], byte[]>, Click> {
    private final long windowSizeMillis;
    private final long allowedLatenessMillis;
    private final Settings.@Nullable Interval interval;
    private final Counter read = Metrics.counter(NAMESPACE, ClickCountPipeline.RECORDS_READ);
    private final Counter parsed = Metrics.counter(NAMESPACE, PARSED);
    private final Counter malformed = Metrics.counter(NAMESPACE, MALFORMED);
    private final Counter tooLate = Metrics.counter(NAMESPACE, TOO_LATE);
    private final Counter outsideInterval = Metrics.counter(NAMESPACE, OUTSIDE_INTERVAL);

    ParseFn(long windowSizeMillis, long allowedLatenessMillis, Settings.@Nullable Interval interval) {
      this.windowSizeMillis = windowSizeMillis;
      this.allowedLatenessMillis = allowedLatenessMillis;
      this.interval = interval;
    }

    @ProcessElement
    public void process(@Element KafkaRecord<byte[], byte[]> record, MultiOutputReceiver out) {
      read.inc();
      long arrival = record.getTimestamp();
      ClickParser.Result result = ClickParser.parse(record.getKV().getValue(), arrival);
      Click click = result.click();
      if (click == null) {
        if (ownsArrival(arrival)) {
          malformed.inc();
          out.get(DEAD_LETTERS).output(deadLetter(record, result.reason().code, result.detail()));
        }
        return;
      }
      long windowEnd = Math.floorDiv(click.eventTimeMillis(), windowSizeMillis) * windowSizeMillis + windowSizeMillis;
      if (arrival > windowEnd + allowedLatenessMillis) {
        if (ownsArrival(arrival)) {
          tooLate.inc();
          out.get(DEAD_LETTERS).output(deadLetter(record, ClickParser.Reason.TOO_LATE.code,
              "arrived at " + new Instant(arrival) + ", after its window's end " + new Instant(windowEnd)
                  + " plus the allowed lateness of " + allowedLatenessMillis / 1000.0 + " s"));
        }
        return;
      }
      if (interval != null && !interval.contains(click.eventTimeMillis())) {
        outsideInterval.inc();
        return;
      }
      parsed.inc();
      out.get(CLICKS).outputWithTimestamp(click, new Instant(click.eventTimeMillis()));
    }

    /** A rejected record is dead-lettered by the run whose interval holds its Kafka timestamp. */
    private boolean ownsArrival(long arrival) {
      return interval == null || interval.contains(arrival);
    }

    private static DeadLetter deadLetter(KafkaRecord<byte[], byte[]> r, String reason, String detail) {
      return new DeadLetter(r.getKV().getKey(), r.getKV().getValue(), reason, detail, r.getTopic(), r.getPartition(),
          r.getOffset(), r.getTimestamp());
    }
  }
}
