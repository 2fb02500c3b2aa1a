package dev.clickstream.pipeline.io;

import java.lang.reflect.Field;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.cache.Cache;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The producer KafkaIO's exactly-once sink writes with ({@code withProducerFactoryFn}): a {@link KafkaProducer}, plus
 * the one step the sink of Beam 2.71.0 means to take after a failure and does not: dropping the failed producer, so
 * that the retry starts from what Kafka has committed.
 *
 * <p>Why. The sink's writer keeps, per shard, a producer and the last sequence id it committed in a JVM-wide cache
 * between bundles (closed after 60 s unused). After an unrecoverable producer error it means to close that writer and
 * let the retry make a new one, but it calls the producer's transactional methods by reflection, so what reaches it is
 * a {@code RuntimeException} wrapping an {@code InvocationTargetException}, never the exception it catches (the
 * wrapping shows in apache/beam#17565). The writer goes back into the cache with its producer in whatever state the
 * failure left: a transaction still open when Flink cancelled the task in the middle of a bundle (ClickHouse down long
 * enough to fail the job), an aborted transaction after a broker restart. Flink restarts the job within seconds on the
 * same TaskManager, whose classes, and so that cache, outlive the restart; the retry takes the same writer and fails on
 * its first {@code beginTransaction} ("Invalid transition attempted from state IN_TRANSACTION to state
 * IN_TRANSACTION"), again on every restart, 60 s never passing between two. Seen in ServiceOutageIT on the session
 * cluster: 13 restarts in 3 minutes, no aggregate committed after the fault, while ClickHouse, written outside the
 * transactions, was complete.
 *
 * <p>What this does. Any exception from a call marks the producer failed; every later call but {@code
 * abortTransaction} and {@code close} fails at once, naming the first failure. A daemon thread then takes the writer
 * holding this producer out of the sink's cache, once the writer is back in it, and closes the producer. The retry's
 * writer is a new one, which the sink sets up as it does after a restart: {@code initTransactions} under the same
 * transactional id (aborting whatever the old producer left open) and the committed sequence id read back from the
 * sink's consumer group in Kafka, so that records committed before the failure are skipped and none is written twice.
 */
public final class ExactlyOnceProducer implements Producer<byte[], byte[]> {
  private static final Logger LOG = LoggerFactory.getLogger(ExactlyOnceProducer.class);

  /** The transactional id the sink gives each shard's producer: {@code producer_<shard>_for_<sink group id>}. */
  private static final Pattern TRANSACTIONAL_ID = Pattern.compile("producer_(\\d+)_for_(.+)");
  private static final long EVICTION_POLL_MILLIS = 100;
  private static final long EVICTION_GIVE_UP_MILLIS = TimeUnit.MINUTES.toMillis(2);
  /**
   * One daemon thread, made on the first failure and gone 10 s after the last eviction, so that on a session cluster it
   * does not keep a finished job's classes loaded.
   */
  private static final ScheduledExecutorService EVICTIONS = evictionThread();

  private static ScheduledExecutorService evictionThread() {
    ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "exactly-once-producer-eviction");
      t.setDaemon(true);
      return t;
    });
    executor.setKeepAliveTime(10, TimeUnit.SECONDS);
    executor.allowCoreThreadTimeOut(true);
    return executor;
  }

  /** What the sink calls to make a producer; {@code producers} makes the underlying one (tests pass a mock). */
  static SerializableFunction<Map<String, Object>, Producer<byte[], byte[]>> factory(
      SerializableFunction<Map<String, Object>, Producer<byte[], byte[]>> producers) {
    return config -> new ExactlyOnceProducer(String.valueOf(config.get(ProducerConfig.TRANSACTIONAL_ID_CONFIG)),
        producers.apply(config));
  }

  static SerializableFunction<Map<String, Object>, Producer<byte[], byte[]>> factory() {
    return factory(KafkaProducer::new);
  }

  private final String transactionalId;
  private final Producer<byte[], byte[]> delegate;
  private volatile @Nullable RuntimeException failure;
  private volatile boolean closed;

  ExactlyOnceProducer(String transactionalId, Producer<byte[], byte[]> delegate) {
    this.transactionalId = transactionalId;
    this.delegate = delegate;
  }

  @Override
  public void initTransactions() {
    // The sink calls this before it holds the producer anywhere; a producer that fails here is not cached, only closed.
    try {
      call(delegate::initTransactions);
    } catch (RuntimeException e) {
      delegate.close(Duration.ZERO);
      closed = true;
      throw e;
    }
  }

  @Override
  public void beginTransaction() {
    call(delegate::beginTransaction);
  }

  @Override
  public Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> record) {
    return call(() -> delegate.send(record));
  }

  @Override
  public Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> record, Callback callback) {
    return call(() -> delegate.send(record, callback));
  }

  @Override
  @SuppressWarnings("deprecation")
  public void sendOffsetsToTransaction(Map<TopicPartition, OffsetAndMetadata> offsets, String consumerGroupId) {
    call(() -> delegate.sendOffsetsToTransaction(offsets, consumerGroupId));
  }

  @Override
  public void sendOffsetsToTransaction(Map<TopicPartition, OffsetAndMetadata> offsets,
      ConsumerGroupMetadata groupMetadata) {
    call(() -> delegate.sendOffsetsToTransaction(offsets, groupMetadata));
  }

  @Override
  public void commitTransaction() {
    call(delegate::commitTransaction);
  }

  /**
   * The sink aborts after a failed send or commit. On a failed producer that is left to the next writer's
   * {@code initTransactions}, so that the exception the sink rethrows is the one that failed it.
   */
  @Override
  public void abortTransaction() {
    if (failure == null) {
      call(delegate::abortTransaction);
    }
  }

  @Override
  public void flush() {
    call(delegate::flush);
  }

  @Override
  public List<PartitionInfo> partitionsFor(String topic) {
    return delegate.partitionsFor(topic);
  }

  @Override
  public Map<MetricName, ? extends Metric> metrics() {
    return delegate.metrics();
  }

  @Override
  public Uuid clientInstanceId(Duration timeout) {
    return delegate.clientInstanceId(timeout);
  }

  @Override
  public void close() {
    closed = true;
    delegate.close();
  }

  @Override
  public void close(Duration timeout) {
    closed = true;
    delegate.close(timeout);
  }

  boolean failed() {
    return failure != null;
  }

  private void call(Runnable op) {
    call(() -> {
      op.run();
      return null;
    });
  }

  private <T> T call(Supplier<T> op) {
    RuntimeException first = failure;
    if (first != null) {
      throw new IllegalStateException("the exactly-once producer " + transactionalId + " failed (" + first
          + ") and is being replaced: the sink's next try starts from what Kafka committed", first);
    }
    try {
      return op.get();
    } catch (RuntimeException e) {
      fail(e);
      throw e;
    }
  }

  private synchronized void fail(RuntimeException e) {
    if (failure != null) {
      return;
    }
    failure = e;
    Matcher id = TRANSACTIONAL_ID.matcher(transactionalId);
    if (!id.matches()) {
      LOG.error("exactly-once producer {} failed ({}), and its transactional id is not the one Beam's sink gives"
          + " (producer_<shard>_for_<group>): cannot drop its writer, so the sink's retries may reuse it",
          transactionalId, e.toString());
      return;
    }
    LOG.warn("exactly-once producer {} failed ({}): dropping its writer so that the sink's next try makes a new one",
        transactionalId, e.toString());
    long giveUpAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(EVICTION_GIVE_UP_MILLIS);
    EVICTIONS.execute(() -> dropWriter(id.group(2), Integer.parseInt(id.group(1)), giveUpAt));
  }

  /**
   * Takes the writer holding this producer out of the sink's cache and closes the producer; until the writer is back
   * in the cache (the sink puts it back after the call that failed has thrown), looks again every 100 ms.
   */
  private void dropWriter(String group, int shard, long giveUpAt) {
    boolean done;
    try {
      // Not done when the producer is closed already: the sink may close it itself, and the writer must still leave
      // the cache, or the sink's retry takes it back with a closed producer.
      done = SinkWriterCache.remove(group, shard, this) || System.nanoTime() > giveUpAt;
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      LOG.error("cannot look into Beam's exactly-once writer cache for {}: the sink's retries may reuse it",
          transactionalId, e);
      done = true;
    }
    if (!done) {
      EVICTIONS.schedule(() -> dropWriter(group, shard, giveUpAt), EVICTION_POLL_MILLIS, TimeUnit.MILLISECONDS);
    } else if (!closed) {
      closed = true;
      delegate.close(Duration.ZERO);
    }
  }

  /**
   * The exactly-once sink's cache of shard writers ({@code KafkaExactlyOnceSink.ExactlyOnceWriter.CACHE_BY_GROUP_ID}:
   * sink group id → shard → writer, each writer holding its producer), private to Beam, read by reflection. Beam is
   * pinned (2.71.0); {@code ExactlyOnceProducerTest} fails if a new version moves any of it.
   */
  static final class SinkWriterCache {
    private static final String SINK = "org.apache.beam.sdk.io.kafka.KafkaExactlyOnceSink$ExactlyOnceWriter";

    /** Removes the writer of {@code (group, shard)} if it holds {@code producer}; true if it did. */
    static boolean remove(String group, int shard, Producer<?, ?> producer) throws ReflectiveOperationException {
      Map<Integer, Object> writers = writers(group);
      Object writer = writers == null ? null : writers.get(shard);
      return writer != null && field(writer.getClass(), "producer").get(writer) == producer
          && writers.remove(shard, writer);
    }

    /** The shard writers cached for a sink group, null if the sink never wrote under it in this JVM. */
    @SuppressWarnings("unchecked")
    static @Nullable Map<Integer, Object> writers(String group) throws ReflectiveOperationException {
      Class<?> sink = Class.forName(SINK, false, ExactlyOnceProducer.class.getClassLoader());
      Cache<String, Object> byGroup = (Cache<String, Object>) field(sink, "CACHE_BY_GROUP_ID").get(null);
      Object shards = byGroup.getIfPresent(group);
      return shards == null ? null
          : ((Cache<Integer, Object>) field(shards.getClass(), "cache").get(shards)).asMap();
    }

    private static Field field(Class<?> type, String name) throws NoSuchFieldException {
      Field f = type.getDeclaredField(name);
      f.setAccessible(true);
      return f;
    }

    private SinkWriterCache() {}
  }
}
