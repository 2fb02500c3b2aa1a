package dev.clickstream.pipeline.io;

import java.util.Map;
import java.util.Set;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka consumers KafkaIO's splittable reader makes, kept so that they can be closed when the job ends.
 *
 * <p>The reader caches a consumer per source descriptor and closes it only once the garbage collector has taken it,
 * by a weak reference whose value is gone by then, so in effect never. An open consumer keeps its sockets and its JMX
 * beans (app-info and metrics, registered with the JVM's platform server), and those beans keep the class loader of
 * the job that made them: a Flink TaskManager running one bounded job after another kept every finished job's classes
 * and died with {@code OutOfMemoryError: Metaspace} (SessionClusterClassLoadingIT). {@link UserCodeRelease} closes
 * them when the job's last step ends.
 */
public final class TrackedConsumers {
  private static final Logger LOG = LoggerFactory.getLogger(TrackedConsumers.class);
  private static final Set<Consumer<byte[], byte[]>> OPEN = java.util.concurrent.ConcurrentHashMap.newKeySet();

  private TrackedConsumers() {}

  /** KafkaIO's own consumer factory ({@code KafkaConsumer::new}), remembering each consumer it makes. */
  public static SerializableFunction<Map<String, Object>, Consumer<byte[], byte[]>> factory() {
    return config -> {
      Consumer<byte[], byte[]> consumer = new KafkaConsumer<>(config);
      OPEN.add(consumer);
      return consumer;
    };
  }

  /**
   * Closes every consumer made in this class loader (this job, on a TaskManager) and forgets it. Only once no read
   * of the job runs any more: a consumer is not for two threads at once.
   *
   * @return how many were closed
   */
  static int closeAll() {
    int closed = 0;
    for (Consumer<byte[], byte[]> consumer : OPEN) {
      OPEN.remove(consumer);
      try {
        consumer.close(java.time.Duration.ZERO);
        closed++;
      } catch (RuntimeException e) {
        LOG.warn("could not close a Kafka consumer of the ending job: {}", e.toString());
      }
    }
    return closed;
  }
}
