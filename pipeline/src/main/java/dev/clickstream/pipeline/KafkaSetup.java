package dev.clickstream.pipeline;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** What the pipeline asks of Kafka before it starts: topics, and a bounded run's offset ranges. */
final class KafkaSetup {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaSetup.class);

  private KafkaSetup() {}

  /**
   * Connects with the pipeline's client settings and asks for the cluster's id, so that wrong credentials, a
   * certificate that is not trusted or a listener of another protocol fail at start, with Kafka's reason; then
   * creates the missing {@code topics} (none: nothing to create) with the broker's default partitions and
   * replication. Existing topics are kept.
   */
  static void prepare(KafkaClient kafka, Collection<String> topics) throws InterruptedException, ExecutionException {
    try (Admin admin = Admin.create(kafka.admin())) {
      try {
        admin.describeCluster().clusterId().get(60, java.util.concurrent.TimeUnit.SECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        throw new ExecutionException("no answer from Kafka at " + kafka + " within 60 s", e);
      }
      if (topics.isEmpty()) {
        return;
      }
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
  /** Offsets [start, stop) of one partition. */
  record OffsetRange(String topic, int partition, long start, long stop) implements java.io.Serializable {
    TopicPartition topicPartition() {
      return new TopicPartition(topic, partition);
    }

    @Override
    public String toString() {
      return topic + "-" + partition + "[" + start + ", " + stop + ")";
    }
  }

  static List<OffsetRange> offsetRanges(KafkaClient kafka, String topic, long fromMillis, long toMillis) {
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProperties(kafka))) {
      List<PartitionInfo> infos = consumer.partitionsFor(topic);
      if (infos == null || infos.isEmpty()) {
        throw new IllegalStateException("topic " + topic + " does not exist on " + kafka.bootstrapServers());
      }
      List<TopicPartition> partitions = new ArrayList<>();
      infos.forEach(info -> partitions.add(new TopicPartition(topic, info.partition())));
      Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
      Map<TopicPartition, OffsetAndTimestamp> starts = consumer.offsetsForTimes(at(partitions, fromMillis));
      Map<TopicPartition, OffsetAndTimestamp> stops = consumer.offsetsForTimes(at(partitions, toMillis));
      List<OffsetRange> ranges = new ArrayList<>();
      for (TopicPartition tp : partitions) {
        long end = ends.get(tp);
        long start = starts.get(tp) == null ? end : starts.get(tp).offset();
        long stop = stops.get(tp) == null ? end : stops.get(tp).offset();
        if (start < stop) {
          ranges.add(new OffsetRange(topic, tp.partition(), start, stop));
        }
      }
      return ranges;
    }
  }

  /**
   * Before a continuous run resumes a consumer group: the DirectRunner keeps window state in memory only, so the
   * windows that were open when the last run stopped (or was killed) are gone, although their clicks' offsets may be
   * committed. This finds the last committed record's Kafka timestamp T (the newest over the partitions, or the
   * earliest over the partitions that were behind when the run stopped, since those held the watermark), takes the
   * first window boundary R at or after T minus {@code horizonMillis} (a window's length, its lateness, the watermark's
   * delay and a margin for the last writes), and moves the group's committed offsets back to the first record that
   * can belong to a window starting at R or later. Every window from R on is then counted again from all of its
   * clicks; windows before R were complete and written before T.
   *
   * @return R, the first window start the resumed run counts, or null for a group with no committed offsets
   */
  static @Nullable Long rewindForRestart(KafkaClient kafka, String topic, String group, long windowSizeMillis,
      long horizonMillis) throws InterruptedException, ExecutionException {
    try (Admin admin = Admin.create(kafka.admin());
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProperties(kafka))) {
      Map<TopicPartition, OffsetAndMetadata> committed = new HashMap<>();
      admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().forEach((tp, offset) -> {
        if (tp.topic().equals(topic) && offset != null && offset.offset() > 0) {
          committed.put(tp, offset);
        }
      });
      if (committed.isEmpty()) {
        return null;
      }
      Map<TopicPartition, Long> committedAt = new HashMap<>();
      for (Map.Entry<TopicPartition, OffsetAndMetadata> e : committed.entrySet()) {
        committedAt.put(e.getKey(), timestampAt(consumer, e.getKey(), e.getValue().offset() - 1));
      }
      long newest = committedAt.values().stream().mapToLong(Long::longValue).max().orElseThrow();
      Map<TopicPartition, Long> ends = consumer.endOffsets(committed.keySet());
      long lastCommitted = newest;
      for (Map.Entry<TopicPartition, OffsetAndMetadata> e : committed.entrySet()) {
        // A partition held the watermark back only if it had a backlog when the run stopped: a record after its
        // committed offset that had arrived by then (no later than the newest committed record anywhere). A
        // partition that was caught up (quiet for a day, say) held nothing open and does not move the rewind back.
        long next = e.getValue().offset();
        if (next < ends.get(e.getKey()) && timestampAt(consumer, e.getKey(), next) <= newest) {
          lastCommitted = Math.min(lastCommitted, committedAt.get(e.getKey()));
        }
      }
      long resumeFrom = Math.floorDiv(lastCommitted - horizonMillis + windowSizeMillis - 1, windowSizeMillis)
          * windowSizeMillis;
      Map<TopicPartition, Long> query = new HashMap<>();
      committed.keySet().forEach(tp -> query.put(tp, resumeFrom - ClickParser.MAX_FUTURE_SKEW_MILLIS));
      Map<TopicPartition, OffsetAndTimestamp> found = consumer.offsetsForTimes(query);
      Map<TopicPartition, OffsetAndMetadata> rewound = new HashMap<>();
      for (Map.Entry<TopicPartition, OffsetAndMetadata> e : committed.entrySet()) {
        OffsetAndTimestamp first = found.get(e.getKey());
        long offset = first == null ? e.getValue().offset() : Math.min(first.offset(), e.getValue().offset());
        rewound.put(e.getKey(), new OffsetAndMetadata(offset));
      }
      admin.alterConsumerGroupOffsets(group, rewound).all().get();
      LOG.info("resuming group {}: last committed click arrived at {}; counting again every window from {} on, from"
          + " offsets {} (were {})", group, new Instant(lastCommitted), new Instant(resumeFrom), rewound, committed);
      return resumeFrom;
    }
  }

  /** The Kafka timestamp of the record at {@code offset}. */
  private static long timestampAt(KafkaConsumer<byte[], byte[]> consumer, TopicPartition tp, long offset) {
    consumer.assign(List.of(tp));
    consumer.seek(tp, offset);
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(java.time.Duration.ofMillis(500)).records(tp)) {
        return r.timestamp(); // the first record at or after the offset (compaction may have removed that one)
      }
    }
    throw new IllegalStateException("cannot read " + tp + " at offset " + offset + " to find where to resume");
  }

  private static Properties consumerProperties(KafkaClient kafka) {
    Properties p = kafka.byteConsumer();
    p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "1");
    return p;
  }

  private static Map<TopicPartition, Long> at(List<TopicPartition> partitions, long millis) {
    Map<TopicPartition, Long> query = new HashMap<>();
    partitions.forEach(tp -> query.put(tp, millis));
    return query;
  }
}
