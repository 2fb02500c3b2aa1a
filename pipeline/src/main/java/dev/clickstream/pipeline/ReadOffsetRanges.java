package dev.clickstream.pipeline;

import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.beam.sdk.io.range.OffsetRange;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.splittabledofn.RestrictionTracker;
import org.apache.beam.sdk.values.PCollection;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A bounded run's reader: one element per Kafka offset range, read with a plain consumer from its start offset to
 * its stop offset and judged into {@link ClickBatch}es. The batches carry the earliest window start among their
 * counts as timestamp, but nothing fires early: the watermark of a DoFn over a bounded input stays at its minimum
 * until every range has been read, so each window fires once, complete.
 *
 * <p>Why not KafkaIO here: its splittable reader checkpoints every 100 records on the DirectRunner, which held
 * bounded runs to 5,000-9,000 records/s on this machine (issue 6); this reader judges up to 100 ms or 8 MB of
 * records per claim and checkpoints at most every second or 32 MB. A range that stops yielding records before its
 * stop offset for {@link #STALL_TIMEOUT} fails the run, and so does a start offset that retention has deleted: no
 * record is skipped silently.
 */
public final class ReadOffsetRanges extends PTransform<PCollection<KafkaSetup.OffsetRange>, PCollection<ClickBatch>> {
  private static final Logger LOG = LoggerFactory.getLogger(ReadOffsetRanges.class);

  static final Duration STALL_TIMEOUT = Duration.ofSeconds(60);
  /**
   * A batch is claimed and handed over once its dead letters hold this many bytes or it is this old: large enough
   * that the count's per-element cost downstream is paid per (product, window) of a batch, not per click, small
   * enough that a checkpoint by the runner (every second on the DirectRunner) drops little read work.
   */
  static final long MAX_BATCH_BYTES = 8L * 1024 * 1024;
  static final long MAX_BATCH_NANOS = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(100);
  /** After handing over this many bytes, a call checkpoints and the rest of its range is read by a later call. */
  static final long MAX_BYTES_PER_CALL = 32L * 1024 * 1024;

  private final KafkaClient kafka;
  private final ClickRules rules;

  public ReadOffsetRanges(KafkaClient kafka, ClickRules rules) {
    this.kafka = kafka;
    this.rules = rules;
  }

  @Override
  public PCollection<ClickBatch> expand(PCollection<KafkaSetup.OffsetRange> ranges) {
    return ranges.apply("ReadRange", ParDo.of(new ReadRangeFn(kafka, rules)))
        .setCoder(ClickBatch.ClickBatchCoder.of());
  }

  /**
   * Reads one offset range as a splittable DoFn: the runner may checkpoint it between records (the DirectRunner does
   * every second), and it checkpoints itself once it has handed over {@link #MAX_BYTES_PER_CALL} of batches, so that
   * what one call holds (the DirectRunner keeps a call's whole output in memory until it returns) is bounded by
   * bytes whatever the records hold: a flood of 1 MB garbage records streams out as dead letters instead of
   * gathering in one batch. The consumer of a partition is kept between calls.
   */
  @DoFn.BoundedPerElement
  static final class ReadRangeFn extends DoFn<KafkaSetup.OffsetRange, ClickBatch> {
    private final KafkaClient kafka;
    private final ClickRules rules;
    private transient java.util.Map<TopicPartition, KafkaConsumer<byte[], byte[]>> consumers;

    ReadRangeFn(KafkaClient kafka, ClickRules rules) {
      this.kafka = kafka;
      this.rules = rules;
    }

    @Setup
    public void setup() {
      consumers = new java.util.HashMap<>();
    }

    @Teardown
    public void teardown() {
      // nothing to commit; no need to wait for the broker to drop the fetch sessions
      consumers.values().forEach(c -> c.close(Duration.ZERO));
      consumers.clear();
    }

    @GetInitialRestriction
    public OffsetRange initialRestriction(@Element KafkaSetup.OffsetRange range) {
      return new OffsetRange(range.start(), range.stop());
    }

    @GetRestrictionCoder
    public org.apache.beam.sdk.coders.Coder<OffsetRange> restrictionCoder() {
      return OffsetRange.Coder.of();
    }

    @ProcessElement
    public ProcessContinuation process(@Element KafkaSetup.OffsetRange range,
        RestrictionTracker<OffsetRange, Long> tracker, OutputReceiver<ClickBatch> out) {
      TopicPartition tp = range.topicPartition();
      long from = tracker.currentRestriction().getFrom();
      long stop = tracker.currentRestriction().getTo();
      long began = System.nanoTime();
      long records = 0;
      long handedOver = 0;
      KafkaConsumer<byte[], byte[]> consumer = consumers.computeIfAbsent(tp, k -> {
        KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProperties(kafka, k));
        c.assign(List.of(k));
        return c;
      });
      consumer.seek(tp, from);
      long lastProgress = System.nanoTime();
      // Records are judged into a pending batch and claimed together, then handed over: nothing may be output after
      // a failed claim, and a claim fails once the runner has taken the rest of the range as a checkpoint. The
      // pending records are then not this call's: they are dropped unseen and the checkpoint's residual reads them.
      ClickBatch.Builder pending = new ClickBatch.Builder(rules);
      long pendingLast = -1;
      long pendingSince = System.nanoTime();
      try {
        while (true) {
          ConsumerRecords<byte[], byte[]> polled = consumer.poll(Duration.ofMillis(500));
          for (ConsumerRecord<byte[], byte[]> r : polled) {
            if (r.offset() < stop) {
              records++;
              pending.add(r.key(), r.value(), r.topic(), r.partition(), r.offset(), r.timestamp());
              pendingLast = r.offset();
            }
          }
          boolean reachedStop = consumer.position(tp) >= stop;
          if (!polled.isEmpty()) {
            lastProgress = System.nanoTime();
          }
          if (pendingLast >= 0 && (reachedStop || pending.bytes() >= MAX_BATCH_BYTES
              || System.nanoTime() - pendingSince >= MAX_BATCH_NANOS)) {
            if (!tracker.tryClaim(pendingLast)) {
              return ProcessContinuation.stop();
            }
            handedOver += pending.bytes();
            emit(pending.build(), out);
            pendingLast = -1;
            pendingSince = System.nanoTime();
          }
          if (reachedStop) {
            tracker.tryClaim(stop); // the range's end: its last offsets may hold no record (a transaction marker)
            return ProcessContinuation.stop();
          }
          if (handedOver >= MAX_BYTES_PER_CALL) {
            return ProcessContinuation.resume(); // the rest in a later call, once this call's output moved on
          }
          if (System.nanoTime() - lastProgress > STALL_TIMEOUT.toNanos()) {
            throw new IllegalStateException("no records from " + tp + " at offset " + consumer.position(tp)
                + " for " + STALL_TIMEOUT.toSeconds() + " s; the range ends at " + stop);
          }
        }
      } finally {
        LOG.debug("read {}[{}, ...): {} records in {} s", tp, from, records,
            (System.nanoTime() - began) / 1_000_000 / 1e3);
      }
    }

    private static void emit(ClickBatch batch, OutputReceiver<ClickBatch> out) {
      out.outputWithTimestamp(batch, batch.timestamp());
    }

    /**
     * Larger fetches than the defaults (the reader wants throughput, not latency); no group, no commits: the offsets
     * come with the range. A start offset that retention has deleted fails the run rather than skipping records.
     */
    static Properties consumerProperties(KafkaClient kafka, TopicPartition tp) {
      Properties p = kafka.byteConsumer();
      p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
      // A poll holds at most 10,000 records and 8 MB (but for one record larger than that).
      p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "10000");
      p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, Integer.toString(8 * 1024 * 1024));
      p.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, Integer.toString(8 * 1024 * 1024));
      p.put(ConsumerConfig.RECEIVE_BUFFER_CONFIG, Integer.toString(4 * 1024 * 1024));
      p.put(ConsumerConfig.CLIENT_ID_CONFIG, "click-count-range-" + tp);
      return p;
    }
  }
}
