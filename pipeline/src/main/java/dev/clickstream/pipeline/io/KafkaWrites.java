package dev.clickstream.pipeline.io;

import dev.clickstream.pipeline.config.KafkaClient;
import java.util.Map;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.io.kafka.KafkaIO;
import org.apache.beam.sdk.io.kafka.ProducerRecordCoder;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** The KafkaIO writes of the aggregates and the dead letters, with their producer settings. */
public final class KafkaWrites {
  private KafkaWrites() {}

  /** The coder of what the Kafka writes take. */
  public static final ProducerRecordCoder<byte[], byte[]> RECORD_CODER =
      ProducerRecordCoder.of(NullableCoder.of(ByteArrayCoder.of()), NullableCoder.of(ByteArrayCoder.of()));

  /**
   * An idempotent, acks=all producer. Idempotence also keeps each partition's records in the order they were sent
   * through retries, which the compacted aggregates topic relies on: on Flink a window's panes leave one writer in the
   * order they fired, so the newest record of a key, the one compaction keeps, is its largest count
   * (docs/semantics.md).
   */
  public static KafkaIO.WriteRecords<byte[], byte[]> of(KafkaClient kafka, String topic) {
    Map<String, Object> producer = new java.util.HashMap<>(kafka.producerSettings());
    producer.put(ProducerConfig.ACKS_CONFIG, "all");
    producer.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    producer.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, 5);
    return KafkaIO.<byte[], byte[]>writeRecords()
        .withBootstrapServers(kafka.bootstrapServers())
        .withTopic(topic)
        .withKeySerializer(ByteArraySerializer.class)
        .withValueSerializer(ByteArraySerializer.class)
        .withProducerConfigUpdates(producer);
  }
}
