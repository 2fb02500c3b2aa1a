package dev.clickstream.pipeline.admin;

import dev.clickstream.pipeline.config.KafkaClient;
import dev.clickstream.pipeline.io.OffsetRange;
import dev.clickstream.pipeline.model.ClickParser;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** What the pipeline asks of Kafka before it starts: topics, and a bounded run's offset ranges. */
public final class KafkaSetup {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaSetup.class);

  private KafkaSetup() {}

  /**
   * The aggregates topic's settings when the pipeline creates it. Compacted: an aggregate is keyed by product and
   * window, so compaction keeps one record per window, its newest. On Flink that is its largest count, since a
   * window's panes are written in the order they fired; on the DirectRunner two can be written out of order
   * (docs/semantics.md). A record stays at least a day before compaction may remove it, so a consumer that reads
   * within a day sees every pane.
   */
  public static final Map<String, String> AGGREGATES_TOPIC_CONFIG = Map.of(
      TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT,
      TopicConfig.MIN_COMPACTION_LAG_MS_CONFIG, Long.toString(java.util.concurrent.TimeUnit.DAYS.toMillis(1)));

  /**
   * Connects with the pipeline's client settings and asks for the cluster's id, so that wrong credentials, a
   * certificate that is not trusted or a listener of another protocol fail at start, with Kafka's reason; then
   * creates the missing {@code topics} (none: nothing to create) with the broker's default partitions and
   * replication, and with {@link #AGGREGATES_TOPIC_CONFIG} for {@code aggregatesTopic}. Existing topics are kept; an
   * existing aggregates topic that is not compacted is reported ({@link #checkCompacted}).
   */
  static void prepare(KafkaClient kafka, Collection<String> topics, String aggregatesTopic)
      throws InterruptedException, ExecutionException {
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
        NewTopic created = new NewTopic(topic, Optional.empty(), Optional.empty());
        wanted.add(topic.equals(aggregatesTopic) ? created.configs(AGGREGATES_TOPIC_CONFIG) : created);
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
      if (topics.contains(aggregatesTopic)) {
        try {
          checkCompacted(admin, aggregatesTopic);
        } catch (ExecutionException e) {
          // Advice only (the principal may not be allowed to describe configs): never a reason not to start.
          LOG.info("could not read the settings of Kafka topic {} to check its compaction: {}", aggregatesTopic,
              e.getCause() == null ? e : e.getCause().toString());
        }
      }
    }
  }

  /**
   * Warns when the aggregates topic exists without compaction (an earlier version made it so): its counts are right,
   * but it keeps every pane until retention. Not changed here: turning compaction on for a topic that holds records
   * keyed by product alone (as earlier versions wrote them) would keep only each product's newest record among them.
   */
  static void checkCompacted(Admin admin, String topic) throws InterruptedException, ExecutionException {
    ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
    Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
    String policy = config == null || config.get(TopicConfig.CLEANUP_POLICY_CONFIG) == null ? ""
        : config.get(TopicConfig.CLEANUP_POLICY_CONFIG).value();
    if (!compacted(policy)) {
      LOG.warn("Kafka topic {} has cleanup.policy={}, not compact: every pane of every window stays until retention"
          + " removes it. Aggregates are keyed by product and window now; once the records written before that"
          + " (keyed by product alone) have expired, compact it: kafka-configs.sh --alter --entity-type topics"
          + " --entity-name {} --add-config cleanup.policy=compact,min.compaction.lag.ms=86400000 (docs/semantics.md)",
          topic, policy, topic);
    }
  }

  /** Whether a topic's {@code cleanup.policy} ({@code compact}, {@code delete} or both, comma-separated) compacts. */
  static boolean compacted(String policy) {
    return java.util.Arrays.stream(policy.split(",")).map(String::strip)
        .anyMatch(TopicConfig.CLEANUP_POLICY_COMPACT::equals);
  }

  /**
   * Whole ranges ({@link #offsetRanges}) cut in pieces of at most about {@code maxPiece} offsets and {@code
   * maxPieceBytes} bytes ({@link #estimatedBytes}), for reads that start at a Kafka timestamp; each range's {@code
   * fromMillis} must be a Kafka timestamp whose first record at or after it is at the range's start.
   *
   * <p>A piece starts where a Kafka timestamp starts: the timestamp of the record at the offset where the piece should
   * start, and then the first offset at or after that timestamp, which is earlier when timestamps are out of order.
   * So the pieces of a partition follow each other without gap or overlap, and a KafkaIO read from a piece's
   * timestamp starts exactly at the piece.
   */
  public static List<OffsetRange> pieces(KafkaClient kafka, List<OffsetRange> ranges, long maxPiece,
      long maxPieceBytes) {
    List<OffsetRange> pieces = new ArrayList<>();
    Map<TopicPartition, Long> averageBytes = ranges.isEmpty() ? Map.of() : averageRecordBytes(kafka, ranges);
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProperties(kafka))) {
      for (OffsetRange range : ranges) {
        TopicPartition tp = range.topicPartition();
        long length = range.stop() - range.start();
        long bytes = Math.max(estimatedBytes(consumer, range), length * averageBytes.getOrDefault(tp, 0L));
        long byBytes = (bytes + maxPieceBytes - 1) / maxPieceBytes;
        long byRecords = (length + maxPiece - 1) / maxPiece;
        int count = (int) Math.min(Math.min(1024, length), Math.max(1, Math.max(byRecords, byBytes)));
        // Where each piece should start, and the Kafka timestamp found there.
        List<long[]> cuts = new ArrayList<>();
        if (bytes / Math.max(1, length) >= LARGE_RECORD_BYTES) {
          // Large records, maybe in a block: even cuts could put the whole block in one piece, so cut by bytes read.
          cuts = cutsByBytes(consumer, range, maxPieceBytes, maxPiece);
        } else {
          for (int i = 1; i < count; i++) {
            long offset = range.start() + length * i / count;
            cuts.add(new long[] {offset, timestampAt(consumer, tp, offset)});
          }
        }
        long start = range.start();
        long startMillis = range.fromMillis();
        for (long[] cut : cuts) {
          long millis = cut[1];
          OffsetAndTimestamp found = consumer.offsetsForTimes(Map.of(tp, millis)).get(tp);
          long next = found == null ? range.stop() : Math.min(found.offset(), range.stop());
          if (next > start) {
            pieces.add(new OffsetRange(range.topic(), tp.partition(), start, next, startMillis,
                bytes / Math.max(1, length) * (next - start)));
            start = next;
            startMillis = millis;
          }
        }
        pieces.add(new OffsetRange(range.topic(), tp.partition(), start, range.stop(), startMillis,
            bytes / Math.max(1, length) * (range.stop() - start)));
      }
    }
    return pieces;
  }

  /**
   * Whole ranges cut by their offsets alone, into pieces of about equal length, at least {@code minPieces} in all
   * where there are that many offsets: for a read that starts each piece at its exact offset, which needs no Kafka
   * timestamp, so nothing is asked of Kafka. A piece's {@code fromMillis} is its range's, at or before its first
   * record.
   */
  public static List<OffsetRange> evenPieces(List<OffsetRange> ranges, int minPieces) {
    long total = ranges.stream().mapToLong(r -> r.stop() - r.start()).sum();
    long target = Math.max(1, (total + Math.max(1, minPieces) - 1) / Math.max(1, minPieces));
    List<OffsetRange> pieces = new ArrayList<>();
    for (OffsetRange range : ranges) {
      long length = range.stop() - range.start();
      long count = Math.max(1, (length + target - 1) / target);
      for (long i = 0; i < count; i++) {
        long start = range.start() + length * i / count;
        long stop = range.start() + length * (i + 1) / count;
        pieces.add(new OffsetRange(range.topic(), range.partition(), start, stop, range.fromMillis(),
            range.estimatedBytes() / count));
      }
    }
    return pieces;
  }

  /** The pieces of each partition joined again: one range per partition, with the bytes of its pieces. */
  public static List<OffsetRange> wholeRanges(List<OffsetRange> pieces) {
    Map<Integer, OffsetRange> whole = new java.util.TreeMap<>();
    for (OffsetRange p : pieces) {
      whole.merge(p.partition(), p, (a, b) -> new OffsetRange(a.topic(), a.partition(), Math.min(a.start(), b.start()),
          Math.max(a.stop(), b.stop()), Math.min(a.fromMillis(), b.fromMillis()),
          a.estimatedBytes() + b.estimatedBytes()));
    }
    return new ArrayList<>(whole.values());
  }

  /** Bytes per record from which a range is cut by reading it ({@link #cutsByBytes}) rather than evenly. */
  static final long LARGE_RECORD_BYTES = 4096;

  /**
   * Reads a range once, keys and values included, and cuts it whenever the records since the last cut reach {@code
   * maxBytes} or {@code maxRecords}: {offset, its Kafka timestamp} per cut. For ranges of large records only, where
   * an estimate per offset could put a block of them in one piece.
   */
  static List<long[]> cutsByBytes(KafkaConsumer<byte[], byte[]> consumer, OffsetRange range, long maxBytes,
      long maxRecords) {
    TopicPartition tp = range.topicPartition();
    consumer.assign(List.of(tp));
    consumer.seek(tp, range.start());
    List<long[]> cuts = new ArrayList<>();
    long bytes = 0;
    long records = 0;
    long position = range.start();
    long idleDeadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
    while (position < range.stop()) {
      List<ConsumerRecord<byte[], byte[]>> got = consumer.poll(java.time.Duration.ofMillis(500)).records(tp);
      if (got.isEmpty()) {
        if (System.nanoTime() > idleDeadline) {
          throw new IllegalStateException("cannot read " + tp + " at offset " + position + " to plan the bounded run");
        }
        continue;
      }
      idleDeadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
      for (ConsumerRecord<byte[], byte[]> r : got) {
        if (r.offset() >= range.stop()) {
          break;
        }
        long size = Math.max(0, r.serializedKeySize()) + Math.max(0, r.serializedValueSize()) + 64;
        if (records > 0 && (bytes + size > maxBytes || records >= maxRecords)) {
          cuts.add(new long[] {r.offset(), r.timestamp()});
          bytes = 0;
          records = 0;
        }
        bytes += size;
        records++;
        position = r.offset() + 1;
      }
      position = Math.max(position, consumer.position(tp));
    }
    return cuts;
  }

  /** Records sampled per range to estimate its bytes ({@link #estimatedBytes}). */
  private static final int SIZE_SAMPLES = 64;

  /**
   * Each partition's bytes on disk per offset, over its whole log (the brokers' log directories): a second estimate
   * beside the samples, which can miss a contiguous block of large records between them. Empty when the brokers do
   * not say (an ACL may forbid describing log directories): the samples alone decide then.
   */
  static Map<TopicPartition, Long> averageRecordBytes(KafkaClient kafka, List<OffsetRange> ranges) {
    Map<TopicPartition, Long> average = new HashMap<>();
    try (Admin admin = Admin.create(kafka.admin());
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProperties(kafka))) {
      List<Integer> brokers = new ArrayList<>();
      admin.describeCluster().nodes().get().forEach(node -> brokers.add(node.id()));
      Map<TopicPartition, Long> sizes = new HashMap<>();
      admin.describeLogDirs(brokers).allDescriptions().get().values().forEach(dirs -> dirs.values().forEach(dir ->
          dir.replicaInfos().forEach((tp, info) -> sizes.merge(tp, info.size(), Math::max))));
      List<TopicPartition> partitions = ranges.stream().map(OffsetRange::topicPartition).distinct().toList();
      Map<TopicPartition, Long> begins = consumer.beginningOffsets(partitions);
      Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
      for (TopicPartition tp : partitions) {
        long offsets = ends.get(tp) - begins.get(tp);
        if (sizes.containsKey(tp) && offsets > 0) {
          average.put(tp, sizes.get(tp) / offsets);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | RuntimeException e) {
      LOG.info("cannot read the partitions' sizes from the brokers ({}): bounded reads are cut by samples only",
          e.toString());
    }
    return average;
  }

  /**
   * About how many bytes of keys and values a range holds: the mean size of {@value #SIZE_SAMPLES} records spread over
   * it, times its length. A flood of large records in a range of small ones shows in the samples that land in it.
   */
  static long estimatedBytes(KafkaConsumer<byte[], byte[]> consumer, OffsetRange range) {
    long length = range.stop() - range.start();
    int samples = (int) Math.min(SIZE_SAMPLES, length);
    long sampled = 0;
    TopicPartition tp = range.topicPartition();
    for (int i = 0; i < samples; i++) {
      ConsumerRecord<byte[], byte[]> r = recordAt(consumer, tp, range.start() + length * i / samples);
      sampled += Math.max(0, r.serializedKeySize()) + Math.max(0, r.serializedValueSize()) + 64;
    }
    return samples == 0 ? 0 : sampled / samples * length;
  }

  /**
   * For every partition of {@code topic}, the offsets holding the records whose Kafka timestamps lie in
   * [fromMillis, toMillis): from the first record at or after {@code fromMillis} to the first at or after
   * {@code toMillis} (or the end of the log). Empty ranges are left out, so a partition with nothing in the interval
   * costs nothing and cannot stall the run.
   */
  public static List<OffsetRange> offsetRanges(KafkaClient kafka, String topic, long fromMillis, long toMillis) {
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
          ranges.add(new OffsetRange(topic, tp.partition(), start, stop, fromMillis));
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
   * <p>A partition the group has no offset for was not read by the last run (added to the topic since it started):
   * it is read from its first record, so T is at most that record's timestamp, and every window its records can
   * belong to is counted again with the other partitions' clicks.
   *
   * @return R, the first window start the resumed run counts, or null for a group with no committed offsets
   */
  public static @Nullable Long rewindForRestart(KafkaClient kafka, String topic, String group, long windowSizeMillis,
      long horizonMillis) throws InterruptedException, ExecutionException {
    try (Admin admin = Admin.create(kafka.admin());
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProperties(kafka))) {
      Map<TopicPartition, OffsetAndMetadata> offsets =
          admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
      Map<TopicPartition, OffsetAndMetadata> committed = new HashMap<>();
      offsets.forEach((tp, offset) -> {
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
      Map<TopicPartition, Long> unread = firstRecords(consumer, unreadPartitions(admin, topic, offsets));
      for (long first : unread.values()) {
        lastCommitted = Math.min(lastCommitted, first);
      }
      if (!unread.isEmpty()) {
        LOG.info("partitions {} of {} have records but no offset in group {}: counting again from their first"
            + " records' time, {}", unread.keySet(), topic, group, new Instant(lastCommitted));
      }
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

  /**
   * The partitions of {@code topic} that group {@code group} has no committed offset for, when it has one for some
   * (a group with none has nothing to compare with: empty). KafkaIO's reader commits an offset for every partition it
   * reads, an empty one's too, once a checkpoint completes; so these are partitions its job did not read: added to
   * the topic after the job started.
   */
  public static List<Integer> partitionsNewToGroup(KafkaClient kafka, String topic, String group)
      throws InterruptedException, ExecutionException {
    try (Admin admin = Admin.create(kafka.admin())) {
      Map<TopicPartition, OffsetAndMetadata> offsets =
          admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
      if (offsets.entrySet().stream().noneMatch(e -> e.getKey().topic().equals(topic) && e.getValue() != null)) {
        return List.of();
      }
      return unreadPartitions(admin, topic, offsets).stream().map(TopicPartition::partition).toList();
    }
  }

  /** The partitions of {@code topic} that have no offset in a group's committed {@code offsets}, in order. */
  private static List<TopicPartition> unreadPartitions(Admin admin, String topic,
      Map<TopicPartition, OffsetAndMetadata> offsets) throws InterruptedException, ExecutionException {
    List<TopicPartition> unread = new ArrayList<>();
    int partitions = partitionCount(admin, topic);
    for (int p = 0; p < partitions; p++) {
      TopicPartition tp = new TopicPartition(topic, p);
      if (offsets.get(tp) == null) {
        unread.add(tp);
      }
    }
    return unread;
  }

  /** How many partitions {@code topic} has. */
  public static int partitionCount(Admin admin, String topic) throws InterruptedException, ExecutionException {
    try {
      return admin.describeTopics(List.of(topic)).allTopicNames().get(30, java.util.concurrent.TimeUnit.SECONDS)
          .get(topic).partitions().size();
    } catch (java.util.concurrent.TimeoutException e) {
      throw new ExecutionException("no answer from Kafka about topic " + topic + " within 30 s", e);
    }
  }

  /** The Kafka timestamp of the first record of each of {@code partitions} that has records. */
  private static Map<TopicPartition, Long> firstRecords(KafkaConsumer<byte[], byte[]> consumer,
      List<TopicPartition> partitions) {
    Map<TopicPartition, Long> firsts = new HashMap<>();
    if (partitions.isEmpty()) {
      return firsts;
    }
    Map<TopicPartition, Long> begins = consumer.beginningOffsets(partitions);
    Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
    for (TopicPartition tp : partitions) {
      if (begins.get(tp) < ends.get(tp)) {
        firsts.put(tp, timestampAt(consumer, tp, begins.get(tp)));
      }
    }
    return firsts;
  }

  /** The Kafka timestamp of the record at {@code offset}. */
  private static long timestampAt(KafkaConsumer<byte[], byte[]> consumer, TopicPartition tp, long offset) {
    return recordAt(consumer, tp, offset).timestamp();
  }

  /** The first record at or after {@code offset} (compaction may have removed that one), waiting up to 30 s. */
  static ConsumerRecord<byte[], byte[]> recordAt(KafkaConsumer<byte[], byte[]> consumer, TopicPartition tp,
      long offset) {
    consumer.assign(List.of(tp));
    consumer.seek(tp, offset);
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(java.time.Duration.ofMillis(500)).records(tp)) {
        return r;
      }
    }
    throw new IllegalStateException("cannot read " + tp + " at offset " + offset);
  }

  static Properties consumerProperties(KafkaClient kafka) {
    Properties p = kafka.byteConsumer();
    p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "1");
    // One record at a time is wanted: small fetches (a record larger than this still comes, alone).
    p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, "65536");
    p.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, "65536");
    return p;
  }

  private static Map<TopicPartition, Long> at(List<TopicPartition> partitions, long millis) {
    Map<TopicPartition, Long> query = new HashMap<>();
    partitions.forEach(tp -> query.put(tp, millis));
    return query;
  }
}
