package dev.clickstream.pipeline;

import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
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
import org.joda.time.Instant;

/**
 * Batches back into elements: each partial count as (product id, clicks) timestamped with its window's start, ready
 * for the event-time windows; each dead letter as it is. Adds the batches' record counts to the run's metrics.
 */
public final class UnpackBatches extends PTransform<PCollection<ClickBatch>, PCollectionTuple> {

  /** Clicks counted per product, timestamped with their window's start: (product id, clicks). */
  public static final TupleTag<KV<Long, Long>> PARTIAL_COUNTS = new TupleTag<>() {};
  public static final TupleTag<DeadLetter> DEAD_LETTERS = new TupleTag<>() {};

  /** Metric names, in the {@value #NAMESPACE} namespace. */
  public static final String NAMESPACE = "clicks";
  public static final String RECORDS_READ = "records_read";
  public static final String COUNTED = "parsed";
  public static final String MALFORMED = "malformed";
  public static final String TOO_LATE = "dropped_too_late";
  public static final String OUTSIDE_INTERVAL = "outside_interval";

  @Override
  public PCollectionTuple expand(PCollection<ClickBatch> batches) {
    PCollectionTuple out = batches.apply("Unpack",
        ParDo.of(new UnpackFn()).withOutputTags(PARTIAL_COUNTS, TupleTagList.of(DEAD_LETTERS)));
    out.get(PARTIAL_COUNTS).setCoder(KvCoder.of(VarLongCoder.of(), VarLongCoder.of()));
    out.get(DEAD_LETTERS).setCoder(DeadLetter.DeadLetterCoder.of());
    return out;
  }

  static final class UnpackFn extends DoFn<ClickBatch, KV<Long, Long>> {
    private final Counter read = Metrics.counter(NAMESPACE, RECORDS_READ);
    private final Counter counted = Metrics.counter(NAMESPACE, COUNTED);
    private final Counter malformed = Metrics.counter(NAMESPACE, MALFORMED);
    private final Counter tooLate = Metrics.counter(NAMESPACE, TOO_LATE);
    private final Counter outsideInterval = Metrics.counter(NAMESPACE, OUTSIDE_INTERVAL);

    @ProcessElement
    public void process(@Element ClickBatch batch, MultiOutputReceiver out) {
      for (int i = 0; i < batch.cells(); i++) {
        out.get(PARTIAL_COUNTS).outputWithTimestamp(KV.of(batch.products()[i], batch.clicks()[i]),
            new Instant(batch.windowStarts()[i]));
      }
      batch.deadLetters().forEach(out.get(DEAD_LETTERS)::output);
      read.inc(batch.read());
      counted.inc(batch.counted());
      malformed.inc(batch.malformed());
      tooLate.inc(batch.tooLate());
      outsideInterval.inc(batch.outsideInterval());
    }
  }
}
