package dev.clickstream.pipeline;

import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.io.UnboundedSource;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A continuous run's reader: the topic's live tail, from the consumer group's committed offsets (the earliest
 * record for a new group), one split per partition. Each poll's records are judged into one {@link ClickBatch};
 * offsets are committed to the group when the runner finalizes a checkpoint, that is after the batch's elements are
 * committed downstream.
 *
 * <p>Watermark, per partition: the newest counted click's event time minus {@code maxOutOfOrderness}; when the
 * partition has no backlog it is idle and the watermark follows the wall clock minus {@code maxOutOfOrderness}, so an
 * empty or quiet partition never holds the pipeline back; it never runs ahead of that clock either (a click stamped
 * in the future must not close windows early). The reader's watermark is the least of its partitions'.
 *
 * <p>Why not KafkaIO: on the DirectRunner its reader hands over 10 records per bundle, or checkpoints every 100
 * (splittable), which held a continuous run to about 1,200 records/s here (issue 6); and it would parse every record
 * twice (once for the timestamp policy, once to count it). Partitions added to the topic while the run is going are
 * not picked up until the next start.
 */
final class KafkaClickSource extends UnboundedSource<ClickBatch, KafkaClickSource.Checkpoint> {
  private static final Logger LOG = LoggerFactory.getLogger(KafkaClickSource.class);
  static final Duration POLL_TIMEOUT = Duration.ofMillis(100);

  private final KafkaClient kafka;
  private final String topic;
  private final String group;
  private final ClickRules rules;
  private final long maxOutOfOrdernessMillis;
  private final @Nullable List<Integer> partitions;
  /** The run the source belongs to: its readers are closed by {@link #closeReadersOf} when the run is over. */
  private final String runId;

  /**
   * The open readers of each run in this JVM. The DirectRunner does not close an unbounded source's readers when a
   * run fails or is cancelled; the supervisor closes them before it starts the next run, so that repeated failures
   * do not pile up consumers, their threads, sockets and fetch buffers.
   */
  private static final Map<String, java.util.Set<Reader>> OPEN_READERS = new java.util.concurrent.ConcurrentHashMap<>();

  KafkaClickSource(KafkaClient kafka, String topic, String group, ClickRules rules,
      long maxOutOfOrdernessMillis, @Nullable List<Integer> partitions, String runId) {
    this.runId = runId;
    this.kafka = kafka;
    this.topic = topic;
    this.group = group;
    this.rules = rules;
    this.maxOutOfOrdernessMillis = maxOutOfOrdernessMillis;
    this.partitions = partitions;
  }

  @Override
  public List<KafkaClickSource> split(int desiredNumSplits, PipelineOptions options) {
    List<Integer> all = partitions != null ? partitions : discoverPartitions();
    int n = Math.max(1, Math.min(desiredNumSplits, all.size()));
    List<List<Integer>> groups = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      groups.add(new ArrayList<>());
    }
    for (int i = 0; i < all.size(); i++) {
      groups.get(i % n).add(all.get(i));
    }
    List<KafkaClickSource> splits = new ArrayList<>();
    for (List<Integer> g : groups) {
      splits.add(new KafkaClickSource(kafka, topic, group, rules, maxOutOfOrdernessMillis, g, runId));
    }
    return splits;
  }

  private List<Integer> discoverPartitions() {
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProperties())) {
      List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
      if (infos == null || infos.isEmpty()) {
        throw new IllegalStateException("topic " + topic + " does not exist on " + kafka.bootstrapServers());
      }
      List<Integer> found = new ArrayList<>();
      infos.forEach(info -> found.add(info.partition()));
      found.sort(null);
      return found;
    }
  }

  @Override
  public Reader createReader(PipelineOptions options, @Nullable Checkpoint checkpoint) {
    return new Reader(this, partitions != null ? partitions : discoverPartitions(), checkpoint);
  }

  /** Closes the readers a finished (failed, cancelled) run left open; returns how many. */
  static int closeReadersOf(String runId) {
    java.util.Set<Reader> left = OPEN_READERS.remove(runId);
    if (left == null) {
      return 0;
    }
    left.forEach(Reader::closeLeftOver);
    return left.size();
  }

  @Override
  public Coder<Checkpoint> getCheckpointMarkCoder() {
    return SerializableCoder.of(Checkpoint.class);
  }

  @Override
  public Coder<ClickBatch> getOutputCoder() {
    return ClickBatch.ClickBatchCoder.of();
  }

  Properties consumerProperties() {
    Properties p = kafka.byteConsumer();
    p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "10000");
    p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, Integer.toString(4 * 1024 * 1024));
    // One poll is one batch, and the DirectRunner holds up to 10 batches per bundle: 8 MB a poll bounds a bundle
    // by bytes (80 MB) whatever the records hold; clicks of 60 bytes still come 100,000 to a poll.
    p.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, Integer.toString(8 * 1024 * 1024));
    return p;
  }

  /**
   * Where each partition's reader got to: the next offset to read and its watermark (so that a reader restored from
   * it keeps its watermark). Finalizing it commits the offsets to the group, through the reader that made it.
   */
  static final class Checkpoint implements UnboundedSource.CheckpointMark, Serializable {
    final TreeMap<Integer, Long> nextOffsets;
    final TreeMap<Integer, Long> watermarks;
    private final transient @Nullable Reader reader;

    Checkpoint(TreeMap<Integer, Long> nextOffsets, TreeMap<Integer, Long> watermarks, @Nullable Reader reader) {
      this.nextOffsets = nextOffsets;
      this.watermarks = watermarks;
      this.reader = reader;
    }

    @Override
    public void finalizeCheckpoint() {
      Reader r = reader;
      if (r != null && !nextOffsets.isEmpty()) {
        r.commitLater(nextOffsets);
      }
    }
  }

  /** One partition's position and watermark. */
  private static final class PartitionState {
    long nextOffset = -1;
    long newestEventTime = Long.MIN_VALUE;
    long watermark = BoundedWindow.TIMESTAMP_MIN_VALUE.getMillis();
  }

  static final class Reader extends UnboundedReader<ClickBatch> {
    private final KafkaClickSource source;
    private final Map<TopicPartition, PartitionState> states = new HashMap<>();
    private final @Nullable Checkpoint restoredFrom;
    private final ClickBatch.Builder builder;
    private final AtomicReference<Map<Integer, Long>> toCommit = new AtomicReference<>();
    private @Nullable KafkaConsumer<byte[], byte[]> consumer;
    private @Nullable ClickBatch current;
    /** The highest offset committed per partition by this reader. */
    private final Map<Integer, Long> committed = new java.util.concurrent.ConcurrentHashMap<>();

    Reader(KafkaClickSource source, List<Integer> partitions, @Nullable Checkpoint restoredFrom) {
      this.source = source;
      this.restoredFrom = restoredFrom;
      this.builder = new ClickBatch.Builder(source.rules);
      for (int partition : partitions) {
        states.put(new TopicPartition(source.topic, partition), new PartitionState());
      }
    }

    @Override
    public boolean start() {
      KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(source.consumerProperties());
      consumer = c;
      OPEN_READERS.computeIfAbsent(source.runId, k -> java.util.concurrent.ConcurrentHashMap.newKeySet()).add(this);
      c.assign(states.keySet());
      Map<TopicPartition, OffsetAndMetadata> committed =
          restoredFrom == null ? c.committed(new HashSet<>(states.keySet())) : Map.of();
      states.forEach((tp, state) -> {
        Long offset = restoredFrom != null ? restoredFrom.nextOffsets.get(tp.partition()) : null;
        if (offset == null && committed.get(tp) != null) {
          offset = committed.get(tp).offset();
        }
        if (offset != null) {
          c.seek(tp, offset);
          state.nextOffset = offset;
        } // else: the earliest record (auto.offset.reset)
        if (restoredFrom != null && restoredFrom.watermarks.containsKey(tp.partition())) {
          state.watermark = restoredFrom.watermarks.get(tp.partition());
        }
      });
      LOG.debug("reading {} from {}", states.keySet(), restoredFrom == null ? committed : restoredFrom.nextOffsets);
      return advance();
    }

    @Override
    public boolean advance() {
      KafkaConsumer<byte[], byte[]> c = consumer();
      commitPending(c);
      ConsumerRecords<byte[], byte[]> polled = c.poll(POLL_TIMEOUT);
      if (polled.isEmpty()) {
        commitIdle(c);
        current = null;
        return false;
      }
      for (TopicPartition tp : polled.partitions()) {
        PartitionState state = states.get(tp);
        for (ConsumerRecord<byte[], byte[]> r : polled.records(tp)) {
          long eventTime = builder.add(r.key(), r.value(), r.topic(), r.partition(), r.offset(), r.timestamp());
          state.newestEventTime = Math.max(state.newestEventTime, eventTime);
          state.nextOffset = r.offset() + 1;
        }
      }
      current = builder.build();
      return true;
    }

    @Override
    public ClickBatch getCurrent() {
      if (current == null) {
        throw new NoSuchElementException();
      }
      return current;
    }

    @Override
    public Instant getCurrentTimestamp() {
      return getCurrent().timestamp();
    }

    @Override
    public Instant getWatermark() {
      long clock = System.currentTimeMillis() - source.maxOutOfOrdernessMillis;
      long least = Long.MAX_VALUE;
      for (Map.Entry<TopicPartition, PartitionState> e : states.entrySet()) {
        PartitionState state = e.getValue();
        long candidate = state.newestEventTime == Long.MIN_VALUE ? Long.MIN_VALUE
            : state.newestEventTime - source.maxOutOfOrdernessMillis;
        OptionalLong lag = consumer == null ? OptionalLong.empty() : consumer.currentLag(e.getKey());
        if (lag.isPresent() && lag.getAsLong() == 0) {
          candidate = Math.max(candidate, clock); // idle: nothing left to read
        }
        state.watermark = Math.max(state.watermark, Math.min(candidate, clock));
        least = Math.min(least, state.watermark);
      }
      return new Instant(Math.max(least, BoundedWindow.TIMESTAMP_MIN_VALUE.getMillis()));
    }

    @Override
    public Checkpoint getCheckpointMark() {
      TreeMap<Integer, Long> offsets = new TreeMap<>();
      TreeMap<Integer, Long> watermarks = new TreeMap<>();
      states.forEach((tp, state) -> {
        if (state.nextOffset >= 0) {
          offsets.put(tp.partition(), state.nextOffset);
        }
        watermarks.put(tp.partition(), state.watermark);
      });
      return new Checkpoint(offsets, watermarks, this);
    }

    @Override
    public KafkaClickSource getCurrentSource() {
      return source;
    }

    /** Called when a checkpoint is finalized, on any thread; the commit is made on the reader's next poll. */
    void commitLater(Map<Integer, Long> offsets) {
      toCommit.set(offsets);
    }

    private void commitPending(KafkaConsumer<byte[], byte[]> c) {
      Map<Integer, Long> offsets = toCommit.getAndSet(null);
      if (offsets == null) {
        return;
      }
      // Never back: a checkpoint finalized late must not undo a later commit made when the reader was idle.
      Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
      offsets.forEach((partition, offset) -> {
        if (offset > committed.getOrDefault(partition, -1L)) {
          committed.put(partition, offset);
          commit.put(new TopicPartition(source.topic, partition), new OffsetAndMetadata(offset));
        }
      });
      if (commit.isEmpty()) {
        return;
      }
      c.commitAsync(commit, (done, error) -> {
        if (error != null) {
          LOG.warn("could not commit offsets {} for group {}: {}", commit, source.group, error.toString());
        }
      });
    }

    /**
     * Caught up: commits where the reader is. The DirectRunner finalizes a checkpoint only when the next batch comes,
     * so without this the last batch before a quiet spell stayed uncommitted, for a day if the partition was quiet
     * for a day, and a restart took that day for the partition's progress. Committing a read position before its
     * checkpoint is final is safe here: a resumed run re-reads every window still open at the last committed
     * record ({@link KafkaSetup#rewindForRestart}), and a runner with durable checkpoints restores its offsets from
     * them, not from the group.
     */
    private void commitIdle(KafkaConsumer<byte[], byte[]> c) {
      Map<Integer, Long> positions = new HashMap<>();
      states.forEach((tp, state) -> {
        if (state.nextOffset >= 0) {
          positions.put(tp.partition(), state.nextOffset);
        }
      });
      toCommit.set(positions); // commitPending commits only the partitions that moved on since the last commit
      commitPending(c);
    }

    private KafkaConsumer<byte[], byte[]> consumer() {
      if (consumer == null) {
        throw new IllegalStateException("the reader was not started");
      }
      return consumer;
    }

    @Override
    public synchronized void close() {
      java.util.Set<Reader> open = OPEN_READERS.get(source.runId);
      if (open != null) {
        open.remove(this);
      }
      if (consumer != null) {
        commitPending(consumer);
        consumer.close(Duration.ofSeconds(5));
        consumer = null;
      }
    }

    /**
     * Closes the consumer of a reader whose run is over, from the supervisor's thread. Nothing is committed: the next
     * run decides where to resume. A runner thread still inside a poll is woken first.
     */
    synchronized void closeLeftOver() {
      KafkaConsumer<byte[], byte[]> c = consumer;
      consumer = null;
      for (int attempt = 0; c != null && attempt < 50; attempt++) {
        try {
          c.close(Duration.ZERO);
          return;
        } catch (java.util.ConcurrentModificationException inUse) {
          c.wakeup();
          try {
            Thread.sleep(100);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
          }
        }
      }
    }
  }
}
