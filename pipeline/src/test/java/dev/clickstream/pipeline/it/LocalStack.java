package dev.clickstream.pipeline.it;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The real Kafka broker and ClickHouse server that services/local-stack.sh runs, as the integration tests see them.
 * Addresses come from the system properties kafka.bootstrap and clickhouse.http (defaults: the local stack's).
 */
final class LocalStack {
  static final String KAFKA = System.getProperty("kafka.bootstrap", "127.0.0.1:9092");
  /** ClickHouse's HTTPS interface, and the certificate local-stack.sh made for it (self-signed). */
  static final String CLICKHOUSE_HTTPS = System.getProperty("clickhouse.https", "https://127.0.0.1:8443/");
  static final Path CLICKHOUSE_CA = Path.of(System.getProperty("clickhouse.ca",
      "../.local-stack/clickhouse/tls/server.crt"));
  /** The broker's SASL_SSL listener, and the client properties file that local-stack.sh made for it. */
  static final String KAFKA_SASL = System.getProperty("kafka.sasl.bootstrap", "127.0.0.1:9094");
  static final Path KAFKA_SASL_PROPERTIES = Path.of(System.getProperty("kafka.sasl.properties",
      "../.local-stack/kafka/tls/client.properties"));
  static final String CLICKHOUSE_HTTP = System.getProperty("clickhouse.http", "http://127.0.0.1:8123/");
  static final String CLICKHOUSE_JDBC = "jdbc:clickhouse://" + URI.create(CLICKHOUSE_HTTP).getAuthority()
      + "/analytics?server_version=22.8.1&server_time_zone=UTC&custom_http_params=database%3Danalytics";
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  private LocalStack() {}

  /** An admin client of the local broker. */
  static org.apache.kafka.clients.admin.Admin admin() {
    Properties p = new Properties();
    p.put(org.apache.kafka.clients.admin.AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, KAFKA);
    return org.apache.kafka.clients.admin.Admin.create(p);
  }

  /** Creates a topic with this many partitions (and the broker's replication). */
  static void createTopic(String topic, int partitions) throws Exception {
    try (org.apache.kafka.clients.admin.Admin admin = admin()) {
      admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic(topic, java.util.Optional.of(partitions),
          java.util.Optional.empty()))).all().get();
    }
  }

  /** Fails the test, saying how to start the stack, if ClickHouse does not answer. Never a silent skip. */
  static void requireRunning() {
    try {
      query("SELECT 1");
    } catch (Exception e) {
      fail("the local stack is not running (" + e + "): start it with services/local-stack.sh start");
    }
  }

  static String query(String sql) throws IOException, InterruptedException {
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(CLICKHOUSE_HTTP))
        .timeout(Duration.ofSeconds(30))
        .POST(HttpRequest.BodyPublishers.ofString(sql)).build(), HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new IOException("ClickHouse: " + r.body());
    }
    return r.body();
  }

  /** (product, window start) to count, from the table's FINAL view. */
  static Map<List<Long>, Long> finalCounts(String table) throws IOException, InterruptedException {
    Map<List<Long>, Long> counts = new HashMap<>();
    for (String line : query("SELECT product_id, timestamp, count FROM " + table + " FINAL FORMAT TabSeparated")
        .split("\n")) {
      if (!line.isEmpty()) {
        String[] f = line.split("\t");
        counts.put(List.of(Long.parseLong(f[0]), Long.parseLong(f[1])), Long.parseLong(f[2]));
      }
    }
    return counts;
  }

  /**
   * Runs the generator on the local broker in the background ({@code --bootstrap-servers} is added); the future
   * holds its oracle, and fails unless Kafka acknowledged every record.
   */
  static java.util.concurrent.CompletableFuture<dev.clickstream.generator.Oracle> generateInBackground(
      String... flags) {
    List<String> all = new ArrayList<>(List.of("--bootstrap-servers", KAFKA));
    all.addAll(List.of(flags));
    return java.util.concurrent.CompletableFuture.supplyAsync(() -> {
      try {
        dev.clickstream.generator.ClickGenerator.Summary s = dev.clickstream.generator.ClickGenerator.run(
            dev.clickstream.generator.GeneratorConfig.parse(all.toArray(new String[0])),
            new java.io.PrintStream(System.err, true));
        if (!s.ok()) {
          throw new IllegalStateException("Kafka did not acknowledge all of the generator's records");
        }
        return s.oracle();
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
  }

  /** The oracles' counts, summed, keyed as {@link #finalCounts} keys them. */
  static Map<List<Long>, Long> expectedCounts(dev.clickstream.generator.Oracle... oracles) {
    Map<List<Long>, Long> expected = new HashMap<>();
    for (dev.clickstream.generator.Oracle o : oracles) {
      o.counts().forEach((k, v) -> expected.merge(List.of(k.productId(), k.windowStart()), v, Long::sum));
    }
    return expected;
  }

  /**
   * Polls the table's FINAL view once a second until it equals {@code expected}, the deadline passes or the pipeline
   * process dies; returns the last view read.
   */
  static Map<List<Long>, Long> awaitCounts(String table, Map<List<Long>, Long> expected, Process pipeline,
      Duration timeout) throws IOException, InterruptedException {
    Map<List<Long>, Long> actual = Map.of();
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline && pipeline.isAlive()) {
      actual = finalCounts(table);
      if (actual.equals(expected)) {
        break;
      }
      Thread.sleep(1000);
    }
    return actual;
  }

  /** Every record of a topic, partition by partition in offset order. */
  static List<ConsumerRecord<byte[], byte[]>> readAll(String topic) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, KAFKA);
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
      List<TopicPartition> partitions = new ArrayList<>();
      for (PartitionInfo info : consumer.partitionsFor(topic)) {
        partitions.add(new TopicPartition(topic, info.partition()));
      }
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (partitions.stream().anyMatch(tp -> consumer.position(tp) < ends.get(tp))) {
        if (System.nanoTime() > deadline) {
          fail("could not read " + topic + " to its end in 60 s");
        }
        consumer.poll(Duration.ofMillis(500)).forEach(out::add);
      }
    }
    return out;
  }

  /** Starts the bundled jar's continuous pipeline in its own JVM, its output going to {@code log}. */
  static Process startPipeline(Path log, String... options) throws IOException {
    return startPipelineOn(KAFKA, log, options);
  }

  /** The same, against the brokers {@code bootstrap}. */
  static Process startPipelineOn(String bootstrap, Path log, String... options) throws IOException {
    List<String> command = new ArrayList<>(List.of("java", "-Xmx1g", "-cp", System.getProperty("bundledJar"),
        "dev.clickstream.pipeline.ClickCountPipeline", "--bootstrapServers=" + bootstrap,
        "--clickHouseUrl=" + CLICKHOUSE_JDBC));
    command.addAll(List.of(options));
    return new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
  }

  /**
   * The largest count per (product, window start) in the aggregates topic: the count is the version. Late panes of a
   * window may reach the topic out of order (bundles are written in parallel) and a resumed run writes a window again.
   */
  static Map<List<Long>, Long> largestAggregates(String topic) throws IOException {
    Map<List<Long>, Long> largest = new HashMap<>();
    for (ConsumerRecord<byte[], byte[]> r : readAll(topic)) {
      JsonNode a = JSON.readTree(r.value());
      largest.merge(List.of(a.get("product_id").asLong(), a.get("window_start").asLong()), a.get("count").asLong(),
          Math::max);
    }
    return largest;
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  static String header(ConsumerRecord<byte[], byte[]> record, String name) {
    var h = record.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }
}
