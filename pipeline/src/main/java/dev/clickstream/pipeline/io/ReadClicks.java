package dev.clickstream.pipeline.io;

import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.model.Counters;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.io.Read;
import org.apache.beam.sdk.io.UnboundedSource;
import org.apache.beam.sdk.io.kafka.BoundedSourceDescriptors;
import org.apache.beam.sdk.io.kafka.KafkaIO;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.io.kafka.KafkaRecordCoder;
import org.apache.beam.sdk.io.kafka.KafkaSourceDescriptor;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.runners.TransformHierarchy;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.values.PBegin;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Duration;
import org.joda.time.Instant;

/**
 * The clicks topic through {@code KafkaIO.read()}: raw key and value bytes with their topic, partition, offset and
 * Kafka timestamp, each stamped by {@link ArrivalTimePolicy}.
 *
 * <ul>
 *   <li>Continuous: the whole topic from the consumer group's committed offsets (the earliest record for a new
 *       group); on Flink, offsets are committed to the group when a checkpoint completes, that is once what was read
 *       is safe downstream; on the DirectRunner, see {@link #continuous}.
 *   <li>Bounded: one read per piece of each partition's offset range (as the launcher planned it), from the
 *       piece's first offset (KafkaIO's start read time, which finds the piece's first offset as the planning did)
 *       for as many records as the piece has offsets. A read bounded by a record count over one partition ends as soon
 *       as it has them (the even split over partitions, which made an uneven topic wait forever, never applies);
 *       {@link KeepRange} leaves what lies past the piece to others. A piece with gaps (transaction markers, compacted
 *       records) and nothing after it yet cannot fill its count: the read then ends after {@link #maxReadTime} and the
 *       run fails, saying which piece came short (the launcher checks the counts {@link #inRange} and {@link
 *       #pastRange}). Pieces, rather than one read per partition, because the DirectRunner holds all of a bounded read's records in one bundle: 1.5 M
 *       records of one partition ran a 1 GB heap out of memory. On the DirectRunner, an interval larger than it can
 *       hold is read by KafkaIO's splittable reader instead ({@link #bounded}).
 * </ul>
 */
public final class ReadClicks {
  private ReadClicks() {}

  public static final KafkaRecordCoder<byte[], byte[]> CODER =
      KafkaRecordCoder.of(NullableCoder.of(ByteArrayCoder.of()), NullableCoder.of(ByteArrayCoder.of()));

  /**
   * The settings every read of the clicks topic shares: the brokers, the client file's settings, raw bytes, the
   * arrival-time policy ({@code continuous}: records behind what their partition already held are raised to it).
   */
  private static KafkaIO.Read<byte[], byte[]> base(Settings s, Map<String, Object> consumer, boolean continuous,
      boolean progress) {
    return KafkaIO.<byte[], byte[]>read()
        .withBootstrapServers(s.kafka().bootstrapServers())
        .withKeyDeserializerAndCoder(ByteArrayDeserializer.class, NullableCoder.of(ByteArrayCoder.of()))
        .withValueDeserializerAndCoder(ByteArrayDeserializer.class, NullableCoder.of(ByteArrayCoder.of()))
        .withConsumerConfigUpdates(consumerConfig(s, consumer, progress))
        .withTimestampPolicyFactory(ArrivalTimePolicy.factory(s.maxOutOfOrderness(), continuous));
  }

  /** The consumer settings of every read: the client file's, large polls, and {@code consumer}'s. */
  private static Map<String, Object> consumerConfig(Settings s, Map<String, Object> consumer) {
    return consumerConfig(s, consumer, false);
  }

  /** The same, and with {@code progress} each poll reported to {@link ReadProgress}. */
  private static Map<String, Object> consumerConfig(Settings s, Map<String, Object> consumer, boolean progress) {
    Map<String, Object> config = new java.util.HashMap<>();
    s.kafka().byteConsumer().forEach((k, v) -> config.put((String) k, v));
    config.remove(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG); // KafkaIO's own setting
    config.remove(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG);
    config.remove(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG);
    // Large polls: clicks are small, and the reader hands a runner what one poll returned.
    config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "10000");
    config.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, Integer.toString(4 * 1024 * 1024));
    config.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, Integer.toString(8 * 1024 * 1024));
    config.putAll(consumer);
    if (progress) {
      ReadProgress.install(config);
    }
    return config;
  }

  /**
   * A continuous run's read of the whole topic under the consumer group. {@code directRunnerRunId}: null on Flink,
   * whose checkpoints hold the read offsets and where KafkaIO commits them to the group when a checkpoint completes.
   * On the DirectRunner, the id of the run: KafkaIO's source is read through {@link ClosableSource}, whose readers the
   * launcher closes when the run is over, and the consumer commits its position every second by itself. The
   * DirectRunner finalizes a read's checkpoint only when the next records come, so KafkaIO's commit on finalize left
   * the last records before a quiet spell uncommitted (a partition quiet for a day then looked a day behind, and a
   * restart re-read the day: RestartCostIT). Committing a position before its records are safe downstream is safe
   * here: a restarted run on the DirectRunner re-reads every window still open at the last committed record (the
   * launcher rewinds the group).
   */
  public static PTransform<PBegin, PCollection<KafkaRecord<byte[], byte[]>>> continuous(Settings s,
      @Nullable String directRunnerRunId) {
    Map<String, Object> group = new java.util.HashMap<>(Map.of(ConsumerConfig.GROUP_ID_CONFIG, s.consumerGroup(),
        ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"));
    if (directRunnerRunId == null) {
      return base(s, group, true, false).withTopic(s.inputTopic()).commitOffsetsInFinalize();
    }
    group.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true");
    group.put(ConsumerConfig.AUTO_COMMIT_INTERVAL_MS_CONFIG, "1000");
    UnboundedSource<KafkaRecord<byte[], byte[]>, ?> kafka =
        sourceOf(base(s, group, true, false).withTopic(s.inputTopic()));
    return Read.from(new ClosableSource<>(kafka, directRunnerRunId));
  }

  /**
   * The unbounded source {@code KafkaIO.read()} makes of its settings (and validates them for), taken from a graph
   * it is applied to and never run.
   */
  @SuppressWarnings("unchecked")
  static UnboundedSource<KafkaRecord<byte[], byte[]>, UnboundedSource.CheckpointMark> sourceOf(
      KafkaIO.Read<byte[], byte[]> read) {
    Pipeline scratch = Pipeline.create(PipelineOptionsFactory.create());
    scratch.apply(read);
    List<UnboundedSource<?, ?>> found = new java.util.ArrayList<>();
    scratch.traverseTopologically(new Pipeline.PipelineVisitor.Defaults() {
      @Override
      public CompositeBehavior enterCompositeTransform(TransformHierarchy.Node node) {
        if (node.getTransform() instanceof Read.Unbounded<?> unbounded) {
          found.add(unbounded.getSource());
          return CompositeBehavior.DO_NOT_ENTER_TRANSFORM;
        }
        return CompositeBehavior.ENTER_TRANSFORM;
      }

      @Override
      public void visitPrimitiveTransform(TransformHierarchy.Node node) {
        if (node.getTransform() instanceof Read.Unbounded<?> unbounded) {
          found.add(unbounded.getSource());
        }
      }
    });
    if (found.size() != 1) {
      throw new IllegalStateException("KafkaIO.read() made " + found.size() + " unbounded sources, expected one");
    }
    return (UnboundedSource<KafkaRecord<byte[], byte[]>, UnboundedSource.CheckpointMark>) found.get(0);
  }

  /**
   * How long a bounded read of {@code records} offsets may take before it is given up: a minute, plus a second per
   * 10,000 records (the slowest runner here reads about 20,000 a second).
   */
  static Duration maxReadTime(long records) {
    return Duration.standardSeconds(60 + records / 10_000);
  }

  /** The metric a bounded read's records within its range are counted under, and those past its end. */
  public static String inRange(OffsetRange range) {
    return "in_range_" + range.partition() + "_" + range.start();
  }

  public static String pastRange(OffsetRange range) {
    return "past_range_" + range.partition() + "_" + range.start();
  }

  /** How a bounded run reads its pieces. */
  public enum BoundedRead {
    /**
     * One legacy KafkaIO read per piece, starting at the piece's Kafka timestamp and bounded by a record count, each
     * keeping only its piece's records: the DirectRunner's fastest, but it holds each read's records in memory until
     * the read is done, and reads them all before the rest of the graph runs.
     */
    LEGACY_PER_PIECE,
    /**
     * KafkaIO's splittable reader over each piece's exact offsets ({@code readSourceDescriptors}), unbounded: the
     * DirectRunner over more than it holds, which it hands on 100 records at a time. Every record is stamped with the
     * least instant, so that the read holds the watermark until it is done and the run fires every window once, as
     * over the legacy reads (judging a click moves it to its event time).
     */
    SPLITTABLE_HOLDING_WATERMARK,
    /**
     * The same reader over the same exact offsets, and stamped the same way, marked bounded ({@link
     * BoundedSourceDescriptors}): one read for the whole run, whose pieces are shared out over the workers, in a
     * bounded graph, which Flink runs as a batch job.
     */
    SPLITTABLE_BOUNDED
  }

  /**
   * A bounded run's reads of {@code pieces} (exact offsets of the input topic's partitions), the way {@code how} says;
   * an empty input when there is no piece. {@code progress}: the readers run in this JVM and report each poll to
   * {@link ReadProgress}.
   */
  public static PTransform<PBegin, PCollection<KafkaRecord<byte[], byte[]>>> bounded(Settings s,
      List<OffsetRange> pieces, BoundedRead how, boolean progress) {
    return new PTransform<>() {
      @Override
      public PCollection<KafkaRecord<byte[], byte[]>> expand(PBegin begin) {
        if (pieces.isEmpty()) {
          return begin.apply("NoRecords", Create.empty(CODER));
        }
        if (how != BoundedRead.LEGACY_PER_PIECE) {
          List<KafkaSourceDescriptor> descriptors = pieces.stream().map(r -> KafkaSourceDescriptor.of(
              r.topicPartition(), r.start(), null, r.stop(), null, null)).toList();
          KafkaIO.ReadSourceDescriptors<byte[], byte[]> read = KafkaIO.<byte[], byte[]>readSourceDescriptors()
              .withBootstrapServers(s.kafka().bootstrapServers())
              .withKeyDeserializerAndCoder(ByteArrayDeserializer.class, NullableCoder.of(ByteArrayCoder.of()))
              .withValueDeserializerAndCoder(ByteArrayDeserializer.class, NullableCoder.of(ByteArrayCoder.of()))
              .withConsumerConfigUpdates(consumerConfig(s, Map.of(), progress))
              .withConsumerFactoryFn(TrackedConsumers.factory())
              .withExtractOutputTimestampFn(record -> BoundedWindow.TIMESTAMP_MIN_VALUE);
          if (how == BoundedRead.SPLITTABLE_BOUNDED) {
            read = BoundedSourceDescriptors.bounded(read);
          }
          return begin
              .apply("Ranges", Create.of(descriptors))
              .apply("ReadRanges", read)
              .setCoder(CODER);
        }
        PCollectionList<KafkaRecord<byte[], byte[]>> reads = PCollectionList.empty(begin.getPipeline());
        for (OffsetRange piece : pieces) {
          long records = piece.stop() - piece.start();
          String name = "Partition" + piece.partition() + "From" + piece.start();
          reads = reads.and(begin
              .apply(name, base(s, Map.of(), false, progress)
                  .withTopicPartitions(List.of(new TopicPartition(piece.topic(), piece.partition())))
                  .withStartReadTime(new Instant(piece.fromMillis()))
                  .withMaxNumRecords(records)
                  .withMaxReadTime(maxReadTime(records)))
              .apply(name + "Only", ParDo.of(new KeepRange(List.of(piece)))));
        }
        return reads.apply("AllPieces", Flatten.pCollections());
      }
    };
  }

  /**
   * Keeps the records of its pieces (at most one per partition): a read bounded by a record count runs past the
   * piece's end when the piece has gaps, and what lies beyond is the next piece's or another run's. Counts both, for
   * the launcher's check that each range was read whole.
   */
  static final class KeepRange extends DoFn<KafkaRecord<byte[], byte[]>, KafkaRecord<byte[], byte[]>> {
    private final Map<Integer, OffsetRange> pieces = new java.util.TreeMap<>();
    private final Map<Integer, Counter> inRange = new java.util.TreeMap<>();
    private final Map<Integer, Counter> pastRange = new java.util.TreeMap<>();
    private transient Map<Integer, long[]> tallies;

    KeepRange(List<OffsetRange> pieces) {
      for (OffsetRange piece : pieces) {
        if (this.pieces.put(piece.partition(), piece) != null) {
          throw new IllegalArgumentException("two pieces of partition " + piece.partition() + " in one read");
        }
        inRange.put(piece.partition(), Metrics.counter(Counters.NAMESPACE, ReadClicks.inRange(piece)));
        pastRange.put(piece.partition(), Metrics.counter(Counters.NAMESPACE, ReadClicks.pastRange(piece)));
      }
    }

    @StartBundle
    public void startBundle() {
      tallies = new java.util.HashMap<>();
    }

    @ProcessElement
    public void process(@Element KafkaRecord<byte[], byte[]> record,
        OutputReceiver<KafkaRecord<byte[], byte[]>> out) {
      OffsetRange piece = pieces.get(record.getPartition());
      if (piece == null) {
        return; // not a partition of this read (cannot happen: each read is given its partitions)
      }
      long[] tally = tallies.computeIfAbsent(record.getPartition(), p -> new long[2]);
      if (record.getOffset() < piece.stop()) {
        tally[0]++;
        out.output(record);
      } else {
        tally[1]++;
      }
    }

    @FinishBundle
    public void finishBundle() {
      tallies.forEach((partition, tally) -> {
        inRange.get(partition).inc(tally[0]);
        pastRange.get(partition).inc(tally[1]);
      });
    }
  }
}
