package dev.clickstream.pipeline.it;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.lessThan;

import dev.clickstream.generator.Oracle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A flood of large garbage in one interval: 1,600 records of 950 KB random bytes (1.52 GB, each under
 * Kafka's 1 MB limit) between good clicks. The pipeline, at the README's heap ({@code -Xmx1g}), must count every good
 * click, dead-letter every garbage record with its exact bytes, and stay within bounded memory: peak RSS is reported
 * and must stay under 1.5 GB. Bounded and continuous.
 */
@Tag("services")
@Tag("direct-runner")
class GarbageFloodIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);
  private static final int GARBAGE_RECORDS = 1_600;
  private static final int GARBAGE_BYTES = 950 * 1024;
  private static final long MAX_PEAK_RSS_BYTES = 1536L * 1024 * 1024;
  private static final List<String> TOPICS = new ArrayList<>();

  @AfterAll
  static void dropTheTopics() throws Exception {
    try (Admin admin = LocalStack.admin()) {
      admin.deleteTopics(TOPICS).all().get(); // 3 GB of disk per test
    }
  }

  // A bounded run over the minute holding the flood.
  @Test
  void aBoundedRunCountsTheGoodClicksAndDeadLettersEveryGarbageRecordInBoundedMemory() throws Exception {
    LocalStack.requireRunning();
    String topic = createTopic("it_flood_b_" + RUN);
    Instant from = Instant.now().minus(2, ChronoUnit.HOURS).truncatedTo(ChronoUnit.HOURS);
    Oracle oracle = LocalStack.generateInBackground("--topic", topic, "--start", from.toString(), "--duration",
        "PT1M", "--rate", "500", "--seed", "41").join();
    Set<String> garbage = writeGarbage(topic, from.plusSeconds(10), 40);
    Path log = Files.createTempFile("flood-bounded-", ".log");
    Process pipeline = LocalStack.startPipeline(log, options(topic, "--from=" + from,
        "--to=" + from.plus(1, ChronoUnit.MINUTES)));
    long peak = peakRssUntilExit(pipeline, Duration.ofMinutes(5));
    System.err.printf("flood, bounded: exit %d, peak RSS %,d MB%n", pipeline.exitValue(), peak >> 20);
    assertThat(Files.readString(log), pipeline.exitValue(), equalTo(0));
    assertThat(LocalStack.finalCounts(table(topic)), equalTo(LocalStack.expectedCounts(oracle)));
    assertThat(deadLetterDigests(topic + "_dlq"), equalTo(garbage));
    assertThat(peak, lessThan(MAX_PEAK_RSS_BYTES));
  }

  // A continuous run that meets the flood between live clicks.
  @Test
  void aContinuousRunCountsTheGoodClicksAndDeadLettersEveryGarbageRecordInBoundedMemory() throws Exception {
    LocalStack.requireRunning();
    String topic = createTopic("it_flood_c_" + RUN);
    Instant start = Instant.now().minus(3, ChronoUnit.MINUTES).truncatedTo(ChronoUnit.MINUTES);
    Oracle oracle = LocalStack.generateInBackground("--topic", topic, "--start", start.toString(), "--duration",
        "PT1M", "--rate", "500", "--window-size", "PT10S", "--allowed-lateness", "PT10S", "--seed", "42").join();
    Path log = Files.createTempFile("flood-continuous-", ".log");
    Process pipeline = LocalStack.startPipeline(log, options(topic, "--consumerGroup=it_flood_" + RUN,
        "--windowSize=PT10S", "--allowedLateness=PT10S"));
    Set<String> garbage = writeGarbage(topic, Instant.now(), 0);
    long peak = 0;
    Map<List<Long>, Long> expected = LocalStack.expectedCounts(oracle);
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
    while (System.nanoTime() < deadline && pipeline.isAlive()) {
      peak = Math.max(peak, peakRss(pipeline));
      if (LocalStack.finalCounts(table(topic)).equals(expected) && records(topic + "_dlq") >= garbage.size()) {
        break;
      }
      Thread.sleep(500);
    }
    Thread.sleep(2000); // a dead letter written twice would show now
    Set<String> deadLettered = deadLetterDigests(topic + "_dlq");
    peak = Math.max(peak, peakRss(pipeline));
    pipeline.destroy();
    pipeline.waitFor(60, TimeUnit.SECONDS);
    System.err.printf("flood, continuous: peak RSS %,d MB%n", peak >> 20);
    assertThat(Files.readString(log), LocalStack.finalCounts(table(topic)), equalTo(expected));
    assertThat(deadLettered, equalTo(garbage));
    assertThat(peak, lessThan(MAX_PEAK_RSS_BYTES));
  }

  private static String[] options(String topic, String... more) {
    List<String> all = new ArrayList<>(List.of("--inputTopic=" + topic, "--outputTopic=" + topic + "_agg",
        "--deadLetterTopic=" + topic + "_dlq", "--clickHouseTable=" + table(topic)));
    all.addAll(List.of(more));
    TOPICS.addAll(List.of(topic + "_agg", topic + "_dlq"));
    return all.toArray(new String[0]);
  }

  private static String table(String topic) {
    return "analytics." + topic;
  }

  private static String createTopic(String topic) throws Exception {
    LocalStack.createTopic(topic, 2);
    TOPICS.add(topic);
    return topic;
  }

  /**
   * Writes the garbage, stamped from {@code first} on, {@code spreadSeconds} apart in all; returns the SHA-256 of each
   * value.
   */
  private static Set<String> writeGarbage(String topic, Instant first, int spreadSeconds) throws Exception {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, LocalStack.KAFKA);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Integer.toString(1024 * 1024));
    Set<String> digests = new HashSet<>();
    Random random = new Random(7);
    long began = System.nanoTime();
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < GARBAGE_RECORDS; i++) {
        byte[] value = new byte[GARBAGE_BYTES];
        random.nextBytes(value);
        digests.add(sha256(value));
        long timestamp = first.toEpochMilli() + (long) i * spreadSeconds * 1000 / GARBAGE_RECORDS;
        producer.send(new ProducerRecord<>(topic, null, timestamp, null, value));
      }
      producer.flush();
    }
    System.err.printf("wrote %,d garbage records (%,d MB) in %.1f s%n", GARBAGE_RECORDS,
        (long) GARBAGE_RECORDS * GARBAGE_BYTES >> 20, (System.nanoTime() - began) / 1e9);
    return digests;
  }

  /** The SHA-256 of every value in the dead-letter topic, read without keeping the values. */
  private static Set<String> deadLetterDigests(String topic) throws Exception {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, LocalStack.KAFKA);
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "50");
    Set<String> digests = new HashSet<>();
    int duplicates = 0;
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      List<TopicPartition> partitions = new ArrayList<>();
      consumer.partitionsFor(topic).forEach(info -> partitions.add(new TopicPartition(topic, info.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> ends = new HashMap<>(consumer.endOffsets(partitions));
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
      while (partitions.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))
          && System.nanoTime() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          if (!digests.add(sha256(r.value()))) {
            duplicates++;
          }
        }
      }
    }
    assertThat("dead letters written twice", duplicates, equalTo(0));
    return digests;
  }

  /** How many records a topic holds (the sum of its partitions' end offsets). */
  private static long records(String topic) throws Exception {
    try (Admin admin = LocalStack.admin()) {
      Map<TopicPartition, org.apache.kafka.clients.admin.OffsetSpec> latest = new HashMap<>();
      admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions()
          .forEach(info -> latest.put(new TopicPartition(topic, info.partition()),
              org.apache.kafka.clients.admin.OffsetSpec.latest()));
      return admin.listOffsets(latest).all().get().values().stream().mapToLong(o -> o.offset()).sum();
    } catch (java.util.concurrent.ExecutionException notYetCreated) {
      return 0;
    }
  }

  private static String sha256(byte[] bytes) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
  }

  /** The process's peak resident set so far (VmHWM), in bytes; 0 once it has exited. */
  private static long peakRss(Process process) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/" + process.pid() + "/status"))) {
        if (line.startsWith("VmHWM:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (java.io.IOException | RuntimeException gone) {
      // exited between the check and the read
    }
    return 0;
  }

  private static long peakRssUntilExit(Process process, Duration timeout) throws InterruptedException {
    long peak = 0;
    long deadline = System.nanoTime() + timeout.toNanos();
    while (process.isAlive() && System.nanoTime() < deadline) {
      peak = Math.max(peak, peakRss(process));
      Thread.sleep(100);
    }
    if (process.isAlive()) {
      process.destroyForcibly();
      throw new AssertionError("the pipeline did not end within " + timeout);
    }
    return peak;
  }
}
