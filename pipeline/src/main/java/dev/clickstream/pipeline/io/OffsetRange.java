package dev.clickstream.pipeline.io;

import org.apache.kafka.common.TopicPartition;

/**
 * Offsets [start, stop) of one partition, and a Kafka timestamp whose first record at or after it (Kafka's
 * offsets-for-times, which KafkaIO's start read time uses) is at {@code start}.
 */
public record OffsetRange(String topic, int partition, long start, long stop, long fromMillis, long estimatedBytes)
    implements java.io.Serializable {

  public OffsetRange(String topic, int partition, long start, long stop, long fromMillis) {
    this(topic, partition, start, stop, fromMillis, 0);
  }

  public TopicPartition topicPartition() {
    return new TopicPartition(topic, partition);
  }

  @Override
  public String toString() {
    return topic + "-" + partition + "[" + start + ", " + stop + ")";
  }
}
