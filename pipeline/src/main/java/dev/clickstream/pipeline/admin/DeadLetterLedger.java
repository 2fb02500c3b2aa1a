package dev.clickstream.pipeline.admin;

import dev.clickstream.pipeline.config.KafkaClient;
import dev.clickstream.pipeline.model.DeadLetter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;

/**
 * The dead letters already in the dead-letter topic for given source offsets: what an earlier attempt of a settling
 * run wrote before it failed, so that its retry does not write them again.
 */
public final class DeadLetterLedger {
  private DeadLetterLedger() {}

  /**
   * Source partition to the offsets, within {@code owned} (partition to {from, to}), of the dead letters of {@code
   * sourceTopic} written to {@code deadLetterTopic} since {@code sinceMillis} (their Kafka timestamps: when each was
   * written). Reads to the topic's end as it was when called.
   */
  public static Map<Integer, long[]> alreadyWritten(KafkaClient kafka, String deadLetterTopic, String sourceTopic,
      long sinceMillis, Map<Integer, long[]> owned) {
    var properties = kafka.byteConsumer();
    properties.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    properties.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
    Map<Integer, List<Long>> found = new TreeMap<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(properties)) {
      List<PartitionInfo> infos = consumer.partitionsFor(deadLetterTopic);
      if (infos == null || infos.isEmpty()) {
        return Map.of();
      }
      List<TopicPartition> partitions = infos.stream()
          .map(i -> new TopicPartition(deadLetterTopic, i.partition())).toList();
      Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
      Map<TopicPartition, Long> query = new HashMap<>();
      partitions.forEach(tp -> query.put(tp, sinceMillis));
      Map<TopicPartition, OffsetAndTimestamp> starts = consumer.offsetsForTimes(query);
      List<TopicPartition> toRead = new ArrayList<>();
      for (TopicPartition tp : partitions) {
        OffsetAndTimestamp start = starts.get(tp);
        if (start != null && start.offset() < ends.get(tp)) {
          toRead.add(tp);
        }
      }
      if (toRead.isEmpty()) {
        return Map.of();
      }
      consumer.assign(toRead);
      toRead.forEach(tp -> consumer.seek(tp, starts.get(tp).offset()));
      long idleDeadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
      while (toRead.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))) {
        var records = consumer.poll(java.time.Duration.ofMillis(500));
        if (records.isEmpty()) {
          if (System.nanoTime() > idleDeadline) {
            throw new IllegalStateException("cannot read " + deadLetterTopic + " to its end to find the dead letters"
                + " an earlier attempt wrote");
          }
          continue;
        }
        idleDeadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        for (ConsumerRecord<byte[], byte[]> r : records) {
          if (r.offset() >= ends.get(new TopicPartition(r.topic(), r.partition()))
              || !sourceTopic.equals(header(r, DeadLetter.SOURCE_TOPIC_HEADER))) {
            continue;
          }
          String partition = header(r, DeadLetter.SOURCE_PARTITION_HEADER);
          String offset = header(r, DeadLetter.SOURCE_OFFSET_HEADER);
          if (partition == null || offset == null) {
            continue;
          }
          int p = Integer.parseInt(partition);
          long o = Long.parseLong(offset);
          long[] range = owned.get(p);
          if (range != null && o >= range[0] && o < range[1]) {
            found.computeIfAbsent(p, x -> new ArrayList<>()).add(o);
          }
        }
      }
    }
    Map<Integer, long[]> result = new TreeMap<>();
    found.forEach((p, offsets) -> result.put(p, offsets.stream().mapToLong(Long::longValue).distinct().toArray()));
    return result;
  }

  private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
    Header h = r.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }
}
