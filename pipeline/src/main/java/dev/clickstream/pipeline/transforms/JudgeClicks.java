package dev.clickstream.pipeline.transforms;

import dev.clickstream.pipeline.io.ArrivalTimePolicy;
import dev.clickstream.pipeline.model.ClickParser;
import dev.clickstream.pipeline.model.ClickRules;
import dev.clickstream.pipeline.model.Counters;
import dev.clickstream.pipeline.model.DeadLetter;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.coders.VoidCoder;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.joda.time.Duration;
import org.joda.time.Instant;

/**
 * Parses and judges each Kafka record once ({@link ClickRules}, by its bytes, its Kafka timestamp and its place in its
 * partition): a click to count leaves as (product id, nothing) stamped with its event time, ready for the event-time
 * windows and {@code Count.perKey}; a malformed, too-late or window-closed record leaves as a {@link DeadLetter}; the
 * rest is only counted in the metrics.
 *
 * <p>KafkaIO stamps each record with its read time ({@link ArrivalTimePolicy}: its Kafka timestamp, in a continuous
 * run raised to what its partition already held); a counted click's event time is at most its window and allowed
 * lateness earlier than that (else the rules reject it), and at most {@link ClickParser#MAX_FUTURE_SKEW_MILLIS} later:
 * the allowed timestamp skew is that window.
 */
public final class JudgeClicks
    extends PTransform<PCollection<KafkaRecord<byte[], byte[]>>, PCollectionTuple> {

  /** Clicks to count: (product id, nothing), stamped with the click's event time. */
  public static final TupleTag<KV<Long, Void>> CLICKS = new TupleTag<>() {};
  public static final TupleTag<DeadLetter> DEAD_LETTERS = new TupleTag<>() {};

  private final ClickRules rules;
  private final Duration allowedSkew;

  public JudgeClicks(ClickRules rules) {
    this.rules = rules;
    this.allowedSkew = Duration.millis(rules.windowSizeMillis() + rules.allowedLatenessMillis() + 1);
  }

  @Override
  public PCollectionTuple expand(PCollection<KafkaRecord<byte[], byte[]>> records) {
    PCollectionTuple out = records.apply("Judge",
        ParDo.of(new JudgeFn(rules, allowedSkew)).withOutputTags(CLICKS, TupleTagList.of(DEAD_LETTERS)));
    out.get(CLICKS).setCoder(KvCoder.of(VarLongCoder.of(), VoidCoder.of()));
    out.get(DEAD_LETTERS).setCoder(DeadLetter.DeadLetterCoder.of());
    return out;
  }

  static final class JudgeFn extends DoFn<KafkaRecord<byte[], byte[]>, KV<Long, Void>> {
    private final ClickRules rules;
    private final Duration allowedSkew;
    private final Counter readCounter = Metrics.counter(Counters.NAMESPACE, Counters.RECORDS_READ);
    private final Counter countedCounter = Metrics.counter(Counters.NAMESPACE, Counters.COUNTED);
    private final Counter malformedCounter = Metrics.counter(Counters.NAMESPACE, Counters.MALFORMED);
    private final Counter tooLateCounter = Metrics.counter(Counters.NAMESPACE, Counters.TOO_LATE);
    private final Counter windowClosedCounter = Metrics.counter(Counters.NAMESPACE, Counters.WINDOW_CLOSED);
    private final Counter alreadyCounter = Metrics.counter(Counters.NAMESPACE, Counters.ALREADY_DEAD_LETTERED);
    private final Counter outsideCounter = Metrics.counter(Counters.NAMESPACE, Counters.OUTSIDE_INTERVAL);
    // Added up per bundle and given to the counters once: a counter update per record is a cost per record.
    private transient long read;
    private transient long counted;
    private transient long malformed;
    private transient long tooLate;
    private transient long windowClosed;
    private transient long already;
    private transient long outside;

    JudgeFn(ClickRules rules, Duration allowedSkew) {
      this.rules = rules;
      this.allowedSkew = allowedSkew;
    }

    @Override
    @SuppressWarnings("deprecation") // the one way to move an element's timestamp back; bounded, see the class doc
    public Duration getAllowedTimestampSkew() {
      return allowedSkew;
    }

    @StartBundle
    public void startBundle() {
      read = counted = malformed = tooLate = windowClosed = already = outside = 0;
    }

    @ProcessElement
    public void process(@Element KafkaRecord<byte[], byte[]> record, @Timestamp Instant readTime,
        MultiOutputReceiver out) {
      read++;
      long arrival = record.getTimestamp();
      byte[] value = record.getKV().getValue();
      ClickRules.Verdict verdict = rules.judge(value, record.getPartition(), record.getOffset(), arrival,
          readTime.getMillis());
      switch (verdict.kind()) {
        case COUNT -> {
          counted++;
          out.get(CLICKS).outputWithTimestamp(KV.of(verdict.click().productId(), null),
              new Instant(verdict.click().eventTimeMillis()));
        }
        case MALFORMED, TOO_LATE, WINDOW_CLOSED -> {
          switch (verdict.kind()) {
            case MALFORMED -> malformed++;
            case TOO_LATE -> tooLate++;
            default -> windowClosed++;
          }
          out.get(DEAD_LETTERS).output(new DeadLetter(record.getKV().getKey(), value, verdict.reason(),
              verdict.detail(), record.getTopic(), record.getPartition(), record.getOffset(), arrival));
        }
        case OUTSIDE_INTERVAL -> outside++;
        case ALREADY_DEAD_LETTERED -> already++;
        case NOT_OWNED -> { }
      }
    }

    @FinishBundle
    public void finishBundle() {
      readCounter.inc(read);
      countedCounter.inc(counted);
      malformedCounter.inc(malformed);
      tooLateCounter.inc(tooLate);
      windowClosedCounter.inc(windowClosed);
      alreadyCounter.inc(already);
      outsideCounter.inc(outside);
    }
  }
}
