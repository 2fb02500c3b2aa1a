package dev.clickstream.pipeline;

import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
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
 * bounded runs to 5,000-9,000 records/s on this machine (issue 6); this reader does the same work at the consumer's
 * speed. A range that stops yielding records before its stop offset for {@link #STALL_TIMEOUT} fails the run, and so
 * does a start offset that retention has deleted: no record is skipped silently.
 */
public final class ReadOffsetRanges extends PTransform<PCollection<KafkaSetup.OffsetRange>, PCollection<ClickBatch>> {
  private static final Logger LOG = LoggerFactory.getLogger(ReadOffsetRanges.class);

  static final Duration STALL_TIMEOUT = Duration.ofSeconds(60);
  /** A batch is handed over when it holds this many (product, window) cells or dead letters, and at the end. */
  static final int MAX_CELLS = 100_000;
  static final int MAX_DEAD_LETTERS = 10_000;

  private final String bootstrapServers;
  private final ClickRules rules;

  public ReadOffsetRanges(String bootstrapServers, ClickRules rules) {
    this.bootstrapServers = bootstrapServers;
    this.rules = rules;
  }

  @Override
  public PCollection<ClickBatch> expand(PCollection<KafkaSetup.OffsetRange> ranges) {
    return ranges.apply("ReadRange", ParDo.of(new ReadRangeFn(bootstrapServers, rules)))
        .setCoder(ClickBatch.ClickBatchCoder.of());
  }

  static final class ReadRangeFn extends DoFn<KafkaSetup.OffsetRange, ClickBatch> {
    private final String bootstrapServers;
    private final ClickRules rules;

    ReadRangeFn(String bootstrapServers, ClickRules rules) {
      this.bootstrapServers = bootstrapServers;
      this.rules = rules;
    }

    @ProcessElement
    public void process(@Element KafkaSetup.OffsetRange range, OutputReceiver<ClickBatch> out) {
      TopicPartition tp = range.topicPartition();
      ClickBatch.Builder batch = new ClickBatch.Builder(rules);
      long began = System.nanoTime();
      long records = 0;
      KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProperties(bootstrapServers, tp));
      try {
        consumer.assign(List.of(tp));
        consumer.seek(tp, range.start());
        long position = range.start();
        long lastProgress = System.nanoTime();
        while (position < range.stop()) {
          ConsumerRecords<byte[], byte[]> polled = consumer.poll(Duration.ofMillis(500));
          for (ConsumerRecord<byte[], byte[]> r : polled) {
            if (r.offset() >= range.stop()) {
              break;
            }
            records++;
            batch.add(r.key(), r.value(), r.topic(), r.partition(), r.offset(), r.timestamp());
          }
          if (batch.isFull(MAX_CELLS, MAX_DEAD_LETTERS)) {
            emit(batch.build(), out);
          }
          position = consumer.position(tp);
          if (!polled.isEmpty()) {
            lastProgress = System.nanoTime();
          } else if (System.nanoTime() - lastProgress > STALL_TIMEOUT.toNanos()) {
            throw new IllegalStateException("no records from " + tp + " at offset " + position + " for "
                + STALL_TIMEOUT.toSeconds() + " s; the range ends at " + range.stop());
          }
        }
      } finally {
        consumer.close(Duration.ZERO); // nothing to commit; no need to wait for the broker to drop the fetch session
      }
      if (!batch.isEmpty()) {
        emit(batch.build(), out);
      }
      LOG.info("read {}: {} records in {} s", range, records, (System.nanoTime() - began) / 1_000_000 / 1e3);
    }

    private static void emit(ClickBatch batch, OutputReceiver<ClickBatch> out) {
      out.outputWithTimestamp(batch, batch.timestamp());
    }

    /**
     * Larger fetches than the defaults (the reader wants throughput, not latency); no group, no commits: the offsets
     * come with the range. A start offset that retention has deleted fails the run rather than skipping records.
     */
    static Properties consumerProperties(String bootstrapServers, TopicPartition tp) {
      Properties p = KafkaSetup.byteConsumerProperties(bootstrapServers);
      p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
      p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "10000");
      p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, Integer.toString(8 * 1024 * 1024));
      p.put(ConsumerConfig.RECEIVE_BUFFER_CONFIG, Integer.toString(4 * 1024 * 1024));
      p.put(ConsumerConfig.CLIENT_ID_CONFIG, "click-count-range-" + tp);
      return p;
    }
  }
}
