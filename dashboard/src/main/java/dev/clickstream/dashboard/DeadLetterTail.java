package dev.clickstream.dashboard;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Follows the pipeline's dead-letter topic and counts its records per reason and second of their source record's
 * Kafka timestamp (header {@code dlq.source.timestamp}), so that the page can show dead letters per reason in the
 * same windows as the counts. Starts at the records written in the last {@link #LOOK_BACK}; holds at most
 * {@link #MAX_SECONDS} seconds of counts, dropping the oldest. Without a consumer group: it commits nothing and
 * disturbs no one.
 */
final class DeadLetterTail implements Runnable, AutoCloseable {
  static final Duration LOOK_BACK = Duration.ofDays(1);
  static final int MAX_SECONDS = 200_000;

  private final String topic;
  private final KafkaConsumer<byte[], byte[]> consumer;
  /** Second of the source timestamp (epoch s) → reason → records. Guarded by this. */
  private final TreeMap<Long, Map<String, Long>> perSecond = new TreeMap<>();
  private final TreeSet<String> reasons = new TreeSet<>();
  private volatile String status = "starting";
  private volatile boolean closed;

  DeadLetterTail(String bootstrapServers, String topic, Properties extra) {
    this.topic = topic;
    Properties p = new Properties();
    p.putAll(extra);
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, "click-dashboard");
    p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "10000");
    this.consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
  }

  String topic() {
    return topic;
  }

  String status() {
    return status;
  }

  @Override
  public void run() {
    List<TopicPartition> assigned = List.of();
    long nextPartitionCheck = 0;
    while (!closed) {
      try {
        if (System.currentTimeMillis() >= nextPartitionCheck) {
          List<TopicPartition> partitions = partitions();
          nextPartitionCheck = System.currentTimeMillis() + 15_000;
          if (partitions.isEmpty()) {
            status = "no topic " + topic + " yet";
            Thread.sleep(2_000);
            nextPartitionCheck = 0;
            continue;
          }
          if (!partitions.equals(assigned)) {
            consumer.assign(partitions);
            List<TopicPartition> before = assigned;
            seekToLookBack(partitions.stream().filter(tp -> !before.contains(tp)).toList());
            assigned = partitions;
          }
        }
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofSeconds(1))) {
          add(header(r, "dlq.reason", "unknown"), sourceTimestamp(r));
        }
        status = "reading " + topic;
      } catch (WakeupException closing) {
        break;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      } catch (RuntimeException e) {
        status = "cannot read " + topic + ": " + e;
        nextPartitionCheck = 0;
        try {
          Thread.sleep(2_000);
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          break;
        }
      }
    }
    consumer.close(Duration.ofSeconds(5));
  }

  private List<TopicPartition> partitions() {
    List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(10));
    List<TopicPartition> partitions = new ArrayList<>();
    for (PartitionInfo info : infos == null ? List.<PartitionInfo>of() : infos) {
      partitions.add(new TopicPartition(topic, info.partition()));
    }
    partitions.sort(java.util.Comparator.comparingInt(TopicPartition::partition));
    return partitions;
  }

  private void seekToLookBack(List<TopicPartition> partitions) {
    long since = System.currentTimeMillis() - LOOK_BACK.toMillis();
    Map<TopicPartition, Long> query = new HashMap<>();
    partitions.forEach(tp -> query.put(tp, since));
    Map<TopicPartition, OffsetAndTimestamp> found = consumer.offsetsForTimes(query);
    for (TopicPartition tp : partitions) {
      OffsetAndTimestamp at = found.get(tp);
      if (at == null) {
        consumer.seekToEnd(List.of(tp));
      } else {
        consumer.seek(tp, at.offset());
      }
    }
  }

  private static String header(ConsumerRecord<byte[], byte[]> r, String name, String otherwise) {
    Header h = r.headers().lastHeader(name);
    return h == null || h.value() == null ? otherwise : new String(h.value(), StandardCharsets.UTF_8);
  }

  static long sourceTimestamp(ConsumerRecord<byte[], byte[]> r) {
    try {
      return Long.parseLong(header(r, "dlq.source.timestamp", ""));
    } catch (NumberFormatException none) {
      return r.timestamp();
    }
  }

  synchronized void add(String reason, long sourceTimestampMillis) {
    reasons.add(reason);
    perSecond.computeIfAbsent(Math.floorDiv(sourceTimestampMillis, 1000L), s -> new HashMap<>())
        .merge(reason, 1L, Long::sum);
    while (perSecond.size() > MAX_SECONDS) {
      perSecond.pollFirstEntry();
    }
  }

  /** Per reason (sorted), the dead letters whose source timestamp falls in each window [start, end). */
  synchronized Map<String, long[]> perWindow(List<CountsQuery.Window> windows) {
    Map<String, long[]> out = new TreeMap<>();
    for (String reason : reasons) {
      out.put(reason, new long[windows.size()]);
    }
    for (int i = 0; i < windows.size(); i++) {
      CountsQuery.Window w = windows.get(i);
      long fromSecond = Math.floorDiv(w.start(), 1000L);
      long toSecond = Math.floorDiv(w.end(), 1000L);
      for (Map.Entry<Long, Map<String, Long>> second : perSecond.subMap(fromSecond, toSecond).entrySet()) {
        for (Map.Entry<String, Long> reason : second.getValue().entrySet()) {
          out.get(reason.getKey())[i] += reason.getValue();
        }
      }
    }
    out.values().removeIf(counts -> java.util.Arrays.stream(counts).allMatch(c -> c == 0));
    return out;
  }

  /** Stops the tail: its thread closes the consumer on its way out. */
  @Override
  public void close() {
    closed = true;
    consumer.wakeup();
  }
}
