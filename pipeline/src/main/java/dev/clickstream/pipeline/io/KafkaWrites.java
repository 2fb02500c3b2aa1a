package dev.clickstream.pipeline.io;

import dev.clickstream.pipeline.config.KafkaClient;
import dev.clickstream.pipeline.config.Settings;
import java.util.Map;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.io.kafka.KafkaIO;
import org.apache.beam.sdk.io.kafka.ProducerRecordCoder;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.checkerframework.checker.nullness.qual.Nullable;

/** The KafkaIO writes of the aggregates and the dead letters, with their producer settings. */
public final class KafkaWrites {
  private KafkaWrites() {}

  /** The coder of what the Kafka writes take. */
  public static final ProducerRecordCoder<byte[], byte[]> RECORD_CODER =
      ProducerRecordCoder.of(NullableCoder.of(ByteArrayCoder.of()), NullableCoder.of(ByteArrayCoder.of()));

  /**
   * An idempotent, acks=all producer; with {@code --kafkaExactlyOnce}, KafkaIO's exactly-once sink: one transactional
   * producer (shard) per sink, committing with the runner's checkpoints under the group {@code <consumerGroup>-<sink>}.
   */
  public static KafkaIO.WriteRecords<byte[], byte[]> of(Settings s, String topic, String sink) {
    return of(s.kafka(), topic, s.kafkaExactlyOnce() ? s.consumerGroup() + "-" + sink : null);
  }

  public static KafkaIO.WriteRecords<byte[], byte[]> of(KafkaClient kafka, String topic,
      @Nullable String exactlyOnceGroup) {
    Map<String, Object> producer = new java.util.HashMap<>(kafka.producerSettings());
    producer.put(ProducerConfig.ACKS_CONFIG, "all");
    producer.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    producer.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, 5);
    KafkaIO.WriteRecords<byte[], byte[]> write = KafkaIO.<byte[], byte[]>writeRecords()
        .withBootstrapServers(kafka.bootstrapServers())
        .withTopic(topic)
        .withKeySerializer(ByteArraySerializer.class)
        .withValueSerializer(ByteArraySerializer.class)
        .withProducerConfigUpdates(producer);
    if (exactlyOnceGroup == null) {
      return write;
    }
    // KafkaIO's exactly-once writer commits one Kafka transaction per element it gets, and on Flink that is about one
    // aggregate. Each commit waits for the broker to finish the previous transaction, which the client polls for
    // every retry.backoff.ms: at the default 100 ms the writer falls behind the aggregates, its backlog holds the task
    // in Flink's checkpoint-complete callback, and checkpoints stop. A short backoff and no linger (the commit flushes
    // anyway) keep a transaction to milliseconds (docs/flink.md has the rates).
    // A transaction open while the broker restarts leaves the writer waiting in sendOffsetsToTransaction, which has no
    // timeout of its own (ServiceOutageIT on Flink), until the broker aborts it after transaction.timeout.ms; then the
    // writer fails and Flink restores the job. 10 s rather than the default minute: the aggregates resume soon after
    // the broker is back.
    Map<String, Object> transactional = new java.util.HashMap<>(producer);
    transactional.putIfAbsent(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, 10);
    transactional.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    transactional.putIfAbsent(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 10_000);
    // ExactlyOnceProducer: after a failure, the sink's next try gets a new producer (Beam 2.71's sink would reuse it).
    return write.withProducerConfigUpdates(transactional).withEOS(1, exactlyOnceGroup)
        .withProducerFactoryFn(ExactlyOnceProducer.factory())
        .withConsumerFactoryFn(bookkeepingConsumer(kafka.producerSettings()));
  }

  /**
   * The exactly-once sink's bookkeeping consumer (it reads and commits the sink's own sequence numbers under its
   * group). KafkaIO configures it with the brokers, the group and the deserializers only; the file's settings
   * (TLS, SASL) come first here, so that it reaches a secured Kafka as every other client does.
   */
  static SerializableFunction<Map<String, Object>, Consumer<byte[], byte[]>> bookkeepingConsumer(
      Map<String, Object> clientSettings) {
    Map<String, Object> settings = new java.util.HashMap<>(clientSettings);
    return sinkConfig -> {
      Map<String, Object> config = new java.util.HashMap<>(settings);
      config.putAll(sinkConfig);
      return new KafkaConsumer<>(config);
    };
  }
}
