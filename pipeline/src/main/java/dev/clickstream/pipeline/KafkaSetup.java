package dev.clickstream.pipeline;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.beam.sdk.io.kafka.KafkaSourceDescriptor;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/** What the pipeline asks of Kafka before it starts: topics, and a bounded run's offset ranges. */
final class KafkaSetup {
  private KafkaSetup() {}

  /** Creates the missing topics with the broker's default partitions and replication; existing ones are kept. */
  static void ensureTopics(String bootstrapServers, Collection<String> topics)
      throws InterruptedException, ExecutionException {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    try (Admin admin = Admin.create(p)) {
      List<NewTopic> wanted = new ArrayList<>();
      for (String topic : topics) {
        wanted.add(new NewTopic(topic, Optional.empty(), Optional.empty()));
      }
      for (var future : admin.createTopics(wanted).values().values()) {
        try {
          future.get();
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof TopicExistsException)) {
            throw e;
          }
        }
      }
    }
  }

  /**
   * For every partition of {@code topic}, the offsets holding the records whose Kafka timestamps lie in
   * [fromMillis, toMillis): from the first record at or after {@code fromMillis} to the first at or after
   * {@code toMillis} (or the end of the log). Empty ranges are left out, so a partition with nothing in the
   * interval costs nothing and cannot stall the run.
   */
  static List<KafkaSourceDescriptor> offsetRanges(String bootstrapServers, String topic, long fromMillis,
      long toMillis) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      List<PartitionInfo> infos = consumer.partitionsFor(topic);
      if (infos == null || infos.isEmpty()) {
        throw new IllegalStateException("topic " + topic + " does not exist on " + bootstrapServers);
      }
      List<TopicPartition> partitions = new ArrayList<>();
      infos.forEach(info -> partitions.add(new TopicPartition(topic, info.partition())));
      Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
      Map<TopicPartition, OffsetAndTimestamp> starts = consumer.offsetsForTimes(at(partitions, fromMillis));
      Map<TopicPartition, OffsetAndTimestamp> stops = consumer.offsetsForTimes(at(partitions, toMillis));
      List<KafkaSourceDescriptor> ranges = new ArrayList<>();
      for (TopicPartition tp : partitions) {
        long end = ends.get(tp);
        long start = starts.get(tp) == null ? end : starts.get(tp).offset();
        long stop = stops.get(tp) == null ? end : stops.get(tp).offset();
        if (start < stop) {
          ranges.add(KafkaSourceDescriptor.of(tp, start, null, stop, null, null));
        }
      }
      return ranges;
    }
  }

  private static Map<TopicPartition, Long> at(List<TopicPartition> partitions, long millis) {
    Map<TopicPartition, Long> query = new HashMap<>();
    partitions.forEach(tp -> query.put(tp, millis));
    return query;
  }
}
