package dev.clickstream.pipeline.io;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.clients.consumer.ConsumerInterceptor;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * A bounded run's progress, as records read of its offset ranges per partition, while it reads: KafkaIO's consumers
 * in this JVM report what each poll returned through a Kafka {@link ConsumerInterceptor} (the consumer setting
 * {@code interceptor.classes}), and {@link Reporter} prints a line every two seconds. Beam's metrics cannot show
 * it: the DirectRunner hands a bounded read's records on only when the read is done, and the FlinkRunner's embedded
 * {@code [local]} cluster runs a batch job attached, so the launcher gets no result to ask until the end. Only for
 * runs whose readers share the launcher's JVM (DirectRunner, Flink {@code [local]}); a job on a session cluster
 * shows its progress in Flink's web UI.
 */
public final class ReadProgress {
  private static final Map<TopicPartition, LongAdder> POLLED = new ConcurrentHashMap<>();

  private ReadProgress() {}

  /** The consumer setting that reports this consumer's polls here, added to {@code config}'s own interceptors. */
  static void install(Map<String, Object> config) {
    Object existing = config.get("interceptor.classes");
    String ours = Interceptor.class.getName();
    config.put("interceptor.classes", existing == null || existing.toString().isBlank() ? ours : existing + "," + ours);
  }

  /** Reports each poll's records per partition. Kafka creates it by its class name, one per consumer. */
  public static final class Interceptor implements ConsumerInterceptor<byte[], byte[]> {
    @Override
    public ConsumerRecords<byte[], byte[]> onConsume(ConsumerRecords<byte[], byte[]> records) {
      for (TopicPartition tp : records.partitions()) {
        POLLED.computeIfAbsent(tp, k -> new LongAdder()).add(records.records(tp).size());
      }
      return records;
    }

    @Override
    public void onCommit(Map<TopicPartition, OffsetAndMetadata> offsets) { }

    @Override
    public void close() { }

    @Override
    public void configure(Map<String, ?> configs) { }
  }

  /**
   * Prints "progress: read N of M records (P%): partition 0 a/b, ...; R records/s, T s" every two seconds, until
   * every record is read.
   */
  public static final class Reporter implements AutoCloseable {
    private final Thread thread;
    private volatile boolean closed;

    private Reporter(List<OffsetRange> ranges) {
      Map<Integer, Long> planned = new TreeMap<>();
      for (OffsetRange r : ranges) {
        planned.merge(r.partition(), r.stop() - r.start(), Long::sum);
        POLLED.remove(r.topicPartition()); // a previous run's in this JVM
      }
      String topic = ranges.get(0).topic();
      long start = System.nanoTime();
      this.thread = new Thread(() -> {
        while (!closed) {
          try {
            Thread.sleep(2_000);
          } catch (InterruptedException e) {
            return;
          }
          if (!closed) {
            boolean done = done(topic, planned); // before the line, which then shows 100% (counts only grow)
            System.out.println(line(topic, planned, (System.nanoTime() - start) / 1e9));
            if (done) {
              System.out.println("progress: every record read; the windows fire and the sinks write");
              return;
            }
          }
        }
      }, "bounded-read-progress");
      thread.setDaemon(true);
    }

    /** Starts reporting the reads of {@code ranges}; null when there is nothing to read. */
    public static Reporter start(List<OffsetRange> ranges) {
      if (ranges.isEmpty()) {
        return null;
      }
      Reporter r = new Reporter(ranges);
      r.thread.start();
      return r;
    }

    /** Whether every partition's range is read: decided from the counts, never from the rounded percentage. */
    static boolean done(String topic, Map<Integer, Long> planned) {
      for (Map.Entry<Integer, Long> p : planned.entrySet()) {
        LongAdder polled = POLLED.get(new TopicPartition(topic, p.getKey()));
        if ((polled == null ? 0 : polled.sum()) < p.getValue()) {
          return false;
        }
      }
      return true;
    }

    static String line(String topic, Map<Integer, Long> planned, double seconds) {
      long read = 0;
      long total = 0;
      List<String> partitions = new ArrayList<>();
      for (Map.Entry<Integer, Long> p : planned.entrySet()) {
        LongAdder polled = POLLED.get(new TopicPartition(topic, p.getKey()));
        // A read bounded by a record count may poll past its range's end (the records beyond are dropped).
        long n = Math.min(polled == null ? 0 : polled.sum(), p.getValue());
        read += n;
        total += p.getValue();
        partitions.add(String.format(Locale.ROOT, "partition %d %,d/%,d", p.getKey(), n, p.getValue()));
      }
      // Rounded down: 100% means every record, never 99.6%.
      long percent = total == 0 ? 100 : Math.floorDiv(100 * read, total);
      return String.format(Locale.ROOT, "progress: read %,d of %,d records (%d%%): %s; %,.0f records/s, %.1f s", read,
          total, percent, String.join(", ", partitions), read / seconds, seconds);
    }

    @Override
    public void close() {
      closed = true;
      thread.interrupt();
    }
  }
}
