package dev.clickstream.pipeline.transforms;

import dev.clickstream.pipeline.io.ClickHouseSchema;
import dev.clickstream.pipeline.io.UserCodeRelease;
import dev.clickstream.pipeline.model.Counters;
import dev.clickstream.pipeline.model.DeadLetter;
import dev.clickstream.pipeline.model.WindowCount;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.values.Row;
import org.apache.kafka.clients.producer.ProducerRecord;

/** What the sinks take: an aggregate as a Kafka record and as a ClickHouse row, a dead letter as a Kafka record. */
public final class SinkRecords {
  private SinkRecords() {}

  public static final class ToAggregateRecord extends DoFn<WindowCount, ProducerRecord<byte[], byte[]>> {
    private final String topic;
    private final Counter sent = Metrics.counter(Counters.NAMESPACE, Counters.AGGREGATES_SENT);

    public ToAggregateRecord(String topic) {
      this.topic = topic;
    }

    @ProcessElement
    public void process(@Element WindowCount count, OutputReceiver<ProducerRecord<byte[], byte[]>> out) {
      sent.inc();
      out.output(new ProducerRecord<>(topic, count.key(), count.toJson()));
    }
  }

  public static final class ToRow extends DoFn<WindowCount, Row> {
    private final Counter written = Metrics.counter(Counters.NAMESPACE, Counters.ROWS_WRITTEN);

    @ProcessElement
    public void process(@Element WindowCount count, OutputReceiver<Row> out) {
      written.inc();
      out.output(ClickHouseSchema.row(count));
    }

    /** The ClickHouse write ends with this step: let a Flink TaskManager unload the job's classes. */
    @Teardown
    public void teardown() {
      UserCodeRelease.release(ToRow.class.getClassLoader());
    }
  }

  public static final class ToDeadLetterRecord extends DoFn<DeadLetter, ProducerRecord<byte[], byte[]>> {
    private final String topic;

    public ToDeadLetterRecord(String topic) {
      this.topic = topic;
    }

    @ProcessElement
    public void process(@Element DeadLetter deadLetter, OutputReceiver<ProducerRecord<byte[], byte[]>> out) {
      out.output(deadLetter.toProducerRecord(topic));
    }
  }
}
