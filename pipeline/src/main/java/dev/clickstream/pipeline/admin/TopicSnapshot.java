package dev.clickstream.pipeline.admin;

import dev.clickstream.pipeline.config.KafkaClient;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

/**
 * A topic's partitions as they were at one moment: their end offsets then, and where Kafka timestamps lie among the
 * records written by then. Every offset it gives is at most the partition's end at that moment, so that offsets
 * found for different times agree with each other however many records arrive meanwhile.
 */
public final class TopicSnapshot implements AutoCloseable {
  private final String topic;
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final Map<Integer, Long> ends = new TreeMap<>();

  private TopicSnapshot(String topic, KafkaConsumer<byte[], byte[]> consumer) {
    this.topic = topic;
    this.consumer = consumer;
  }

  public static TopicSnapshot of(KafkaClient kafka, String topic) {
    KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(KafkaSetup.consumerProperties(kafka));
    TopicSnapshot snapshot = new TopicSnapshot(topic, consumer);
    try {
      List<PartitionInfo> infos = consumer.partitionsFor(topic);
      if (infos == null || infos.isEmpty()) {
        throw new IllegalStateException("topic " + topic + " does not exist on " + kafka.bootstrapServers());
      }
      List<TopicPartition> partitions = infos.stream().map(i -> new TopicPartition(topic, i.partition())).toList();
      consumer.endOffsets(partitions).forEach((tp, end) -> snapshot.ends.put(tp.partition(), end));
      return snapshot;
    } catch (RuntimeException e) {
      consumer.close();
      throw e;
    }
  }

  public String topic() {
    return topic;
  }

  public Collection<Integer> partitions() {
    return ends.keySet();
  }

  /** The partition's end offset at the snapshot. */
  public long end(int partition) {
    return ends.get(partition);
  }

  /**
   * Each partition's first offset whose Kafka timestamp is at or after {@code millis}, or its end at the snapshot when
   * no record written by then has one.
   */
  public Map<Integer, Long> offsetsAt(long millis) {
    Map<TopicPartition, Long> query = new HashMap<>();
    ends.keySet().forEach(p -> query.put(new TopicPartition(topic, p), millis));
    Map<TopicPartition, OffsetAndTimestamp> found = consumer.offsetsForTimes(query);
    Map<Integer, Long> offsets = new TreeMap<>();
    ends.forEach((p, end) -> {
      OffsetAndTimestamp f = found.get(new TopicPartition(topic, p));
      offsets.put(p, f == null ? end : Math.min(f.offset(), end));
    });
    return offsets;
  }

  /** The Kafka timestamp of the first record at or after {@code offset} (which must be below the partition's end). */
  public long timestampAt(int partition, long offset) {
    return KafkaSetup.recordAt(consumer, new TopicPartition(topic, partition), offset).timestamp();
  }

  @Override
  public void close() {
    consumer.close();
  }
}
