package dev.clickstream.pipeline.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The real Kafka broker, ClickHouse server and Flink session cluster that services/local-stack.sh runs, as the
 * integration tests see them. Addresses come from the system properties kafka.bootstrap, clickhouse.http and
 * flink.master (defaults: the local stack's).
 *
 * <p>The runner every test runs its pipelines on comes from the system property {@code it.runner}; the build runs
 * the tests once per runner (failsafe executions in pipeline/pom.xml): {@code direct} (the DirectRunner),
 * {@code flink} (the FlinkRunner on the local Flink session cluster) and {@code flink-local} (the FlinkRunner's
 * embedded {@code [local]} cluster).
 */
final class LocalStack {
  static final String RUNNER = System.getProperty("it.runner", "direct");
  static final String FLINK_MASTER = System.getProperty("flink.master", "127.0.0.1:8081");
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

  /** Adds partitions to a topic, up to {@code partitions} in all, as an operator scaling out would. */
  static void growTopic(String topic, int partitions) throws Exception {
    try (org.apache.kafka.clients.admin.Admin admin = admin()) {
      admin.createPartitions(Map.of(topic, org.apache.kafka.clients.admin.NewPartitions.increaseTo(partitions)))
          .all().get();
    }
  }

  /** How many records each partition of a topic holds (its end offsets). */
  static List<Long> recordsPerPartition(String topic) throws Exception {
    try (org.apache.kafka.clients.admin.Admin admin = admin()) {
      int count = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
      Map<TopicPartition, org.apache.kafka.clients.admin.OffsetSpec> latest = new HashMap<>();
      for (int p = 0; p < count; p++) {
        latest.put(new TopicPartition(topic, p), org.apache.kafka.clients.admin.OffsetSpec.latest());
      }
      var ends = admin.listOffsets(latest).all().get();
      List<Long> records = new ArrayList<>();
      for (int p = 0; p < count; p++) {
        records.add(ends.get(new TopicPartition(topic, p)).offset());
      }
      return records;
    }
  }

  /** Fails the test, saying how to start the stack, if ClickHouse (or the Flink the tests run on) does not answer. */
  static void requireRunning() {
    try {
      query("SELECT 1");
      if (RUNNER.equals("flink")) {
        flinkRest("/overview");
      }
    } catch (Exception e) {
      fail("the local stack is not running (" + e + "): start it with services/local-stack.sh start");
    }
  }

  static boolean onFlink() {
    return RUNNER.startsWith("flink");
  }

  /** The options that put a pipeline on the runner under test. */
  static List<String> runnerOptions() {
    return switch (RUNNER) {
      case "direct" -> List.of();
      // The job jar is what a launch from the bundled jar stages; without --filesToStage the runner would ship the
      // test classpath.
      case "flink" -> List.of("--runner=FlinkRunner", "--flinkMaster=" + FLINK_MASTER,
          "--filesToStage=" + System.getProperty("jobJar"));
      case "flink-local" -> List.of("--runner=FlinkRunner", "--flinkMaster=[local]");
      default -> throw new IllegalArgumentException("it.runner must be direct, flink or flink-local: " + RUNNER);
    };
  }

  /** A pipeline reading {@code topic} (its sinks named after it) into {@code table} on the local stack. */
  static String[] sinkOptions(String topic, String table, String... more) {
    List<String> all = new ArrayList<>(List.of("--bootstrapServers=" + KAFKA, "--inputTopic=" + topic,
        "--outputTopic=" + topic + "_agg", "--deadLetterTopic=" + topic + "_dlq", "--clickHouseUrl=" + CLICKHOUSE_JDBC,
        "--clickHouseTable=" + table));
    all.addAll(List.of(more));
    return all.toArray(new String[0]);
  }

  /** The pipeline's options from {@code args}, on the runner under test (in this JVM). */
  static dev.clickstream.pipeline.config.ClickCountOptions options(String... args) {
    List<String> all = new ArrayList<>(List.of(args));
    all.addAll(runnerOptions());
    return dev.clickstream.pipeline.launch.RunnerOptions.parse(all.toArray(String[]::new));
  }

  /** GET on the Flink session cluster's REST API. */
  static JsonNode flinkRest(String path) throws IOException, InterruptedException {
    HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create("http://" + FLINK_MASTER + path))
        .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    if (response.statusCode() != 200) {
      throw new IOException("Flink answered " + response.statusCode() + " to " + path + ": " + response.body());
    }
    return JSON.readTree(response.body());
  }

  /** The session cluster's newest job whose name holds {@code name} (empty: any), as /jobs/overview lists it. */
  static JsonNode newestFlinkJob(String name) throws IOException, InterruptedException {
    JsonNode newest = newestFlinkJobIfAny(name);
    if (newest == null) {
      fail("no Flink job named *" + name + "* on " + FLINK_MASTER);
    }
    return newest;
  }

  static JsonNode newestFlinkJobIfAny(String name) throws IOException, InterruptedException {
    JsonNode newest = null;
    for (JsonNode job : flinkRest("/jobs/overview").path("jobs")) {
      if (job.path("name").asText().contains(name)
          && (newest == null || job.path("start-time").asLong() > newest.path("start-time").asLong())) {
        newest = job;
      }
    }
    return newest;
  }

  /**
   * Asserts that, in the session cluster's job {@code jobId}, each named stage (a part of a vertex's name) ran at
   * parallelism 2 or more with every subtask reading records: no stage funnels all data through one key.
   */
  static void assertEverySubtaskWorked(String jobId, String... stages) throws IOException, InterruptedException {
    Map<String, List<Long>> perVertex = recordsReadPerSubtask(jobId);
    System.err.println("records read per subtask, job " + jobId + ": " + perVertex);
    for (String stage : stages) {
      List<List<Long>> matching = perVertex.entrySet().stream().filter(e -> e.getKey().contains(stage))
          .map(Map.Entry::getValue).toList();
      if (matching.isEmpty()) {
        fail("no vertex of Flink job " + jobId + " at parallelism 2+ holds " + stage + ": " + perVertex.keySet());
      }
      for (List<Long> read : matching) {
        if (read.stream().anyMatch(r -> r == 0)) {
          fail(stage + " ran on one subtask only (records read per subtask " + read + ") in job " + jobId);
        }
      }
    }
  }

  /**
   * Per vertex of a Flink job whose parallelism is above 1: the records each subtask read. A vertex where one subtask
   * did all the work funnels the data through one key.
   */
  static Map<String, List<Long>> recordsReadPerSubtask(String jobId) throws IOException, InterruptedException {
    Map<String, List<Long>> perVertex = new java.util.LinkedHashMap<>();
    for (JsonNode vertex : flinkRest("/jobs/" + jobId).path("vertices")) {
      if (vertex.path("parallelism").asInt() < 2) {
        continue;
      }
      List<Long> read = new ArrayList<>();
      for (JsonNode subtask : flinkRest("/jobs/" + jobId + "/vertices/" + vertex.path("id").asText())
          .path("subtasks")) {
        read.add(subtask.path("metrics").path("read-records").asLong());
      }
      perVertex.put(vertex.path("name").asText(), read);
    }
    return perVertex;
  }

  /** Runs services/local-stack.sh with {@code args} (stop or start a service), failing the test if it fails. */
  static void stack(String... args) {
    List<String> command = new ArrayList<>(List.of(Path.of("..", "services", "local-stack.sh").toString()));
    command.addAll(List.of(args));
    try {
      Process p = new ProcessBuilder(command).inheritIO().start();
      if (!p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS) || p.exitValue() != 0) {
        fail("local-stack.sh " + String.join(" ", args));
      }
    } catch (IOException | InterruptedException e) {
      throw new IllegalStateException(e);
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
    return awaitCounts(table, expected, pipeline, timeout, Set.of());
  }

  /** As above, leaving the cells of {@code aside} out of the comparison (the returned view keeps them). */
  static Map<List<Long>, Long> awaitCounts(String table, Map<List<Long>, Long> expected, Process pipeline,
      Duration timeout, Set<List<Long>> aside) throws IOException, InterruptedException {
    Map<List<Long>, Long> actual = Map.of();
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline && pipeline.isAlive()) {
      actual = finalCounts(table);
      Map<List<Long>, Long> compared = new HashMap<>(actual);
      compared.keySet().removeAll(aside);
      if (compared.equals(expected)) {
        break;
      }
      Thread.sleep(1000);
    }
    return new HashMap<>(actual);
  }

  /**
   * Waits up to 120 s for the aggregates topic to hold {@code expected}, both as the largest count per window (what
   * consumers are told to keep) and as the newest record per key (what compaction keeps), then asserts both.
   */
  static void awaitAggregates(String topic, Map<List<Long>, Long> expected) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(120);
    Map<List<Long>, Long> newest = newestAggregates(topic);
    while (!(newest.equals(expected) && largestAggregates(topic).equals(expected)) && System.nanoTime() < deadline) {
      Thread.sleep(2000);
      newest = newestAggregates(topic);
    }
    assertSameCounts("the largest aggregate per window", expected, largestAggregates(topic));
    assertSameCounts("the newest aggregate per key (what compaction keeps)", expected, newest);
  }

  /**
   * The newest record per key of the aggregates topic, by offset: what compaction keeps. Asserts that every record's
   * key is its value's product and window, so that the key is the window (all of its panes share a partition, and
   * offset order is write order).
   */
  static Map<List<Long>, Long> newestAggregates(String topic) throws IOException {
    Map<List<Long>, Long> newest = new HashMap<>();
    for (ConsumerRecord<byte[], byte[]> r : readAll(topic)) {
      JsonNode a = JSON.readTree(r.value());
      JsonNode key = JSON.readTree(r.key());
      List<Long> window = List.of(a.get("product_id").asLong(), a.get("window_start").asLong());
      assertEquals(window, List.of(key.get("product_id").asLong(), key.get("window_start").asLong()),
          "the key of " + new String(r.value(), java.nio.charset.StandardCharsets.UTF_8));
      newest.put(window, a.get("count").asLong());
    }
    return newest;
  }

  /**
   * Waits until each of {@code topics} holds a record and a checkpoint taken after that has completed: a failure
   * then restores a job that had written output already, whose replay writes those panes again.
   */
  static void awaitOutputCheckpointed(String jobName, String... topics) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(120);
    for (String topic : topics) {
      while (readAll(topic).isEmpty()) {
        assertTrue(System.nanoTime() < deadline, "nothing written to " + topic + " within 120 s");
        Thread.sleep(500);
      }
    }
    String checkpoints = "/jobs/" + newestFlinkJob(jobName).path("jid").asText() + "/checkpoints";
    long completed = flinkRest(checkpoints).path("counts").path("completed").asLong();
    // The checkpoint in progress may have been triggered before the writes: wait for the one after it.
    while (flinkRest(checkpoints).path("counts").path("completed").asLong() < completed + 2) {
      assertTrue(System.nanoTime() < deadline, "no checkpoint completed after the first output");
      Thread.sleep(500);
    }
  }

  /**
   * Asserts two (product, window start) → count maps are equal; if not, says how they differ (cells missing, extra
   * and different, per window) rather than printing both maps.
   */
  static void assertSameCounts(String what, Map<List<Long>, Long> expected, Map<List<Long>, Long> actual) {
    if (expected.equals(actual)) {
      return;
    }
    java.util.TreeMap<Long, String> perWindow = new java.util.TreeMap<>();
    java.util.Set<List<Long>> cells = new java.util.HashSet<>(expected.keySet());
    cells.addAll(actual.keySet());
    Map<Long, long[]> diff = new java.util.TreeMap<>(); // window -> {expected sum, actual sum, cells off}
    for (List<Long> cell : cells) {
      long e = expected.getOrDefault(cell, 0L);
      long a = actual.getOrDefault(cell, 0L);
      long[] d = diff.computeIfAbsent(cell.get(1), w -> new long[3]);
      d[0] += e;
      d[1] += a;
      if (e != a) {
        d[2]++;
      }
    }
    diff.forEach((window, d) -> {
      if (d[2] > 0) {
        perWindow.put(window, java.time.Instant.ofEpochMilli(window) + ": expected " + d[0] + " clicks, got " + d[1]
            + " (" + d[2] + " products off)");
      }
    });
    long expectedSum = expected.values().stream().mapToLong(Long::longValue).sum();
    long actualSum = actual.values().stream().mapToLong(Long::longValue).sum();
    fail(what + ": " + actualSum + " clicks in " + actual.size() + " cells, expected " + expectedSum + " in "
        + expected.size() + "; windows off: " + String.join("; ", perWindow.values()));
  }

  /** Every record of a topic, partition by partition in offset order. */
  static List<ConsumerRecord<byte[], byte[]>> readAll(String topic) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, KAFKA);
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
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

  /** The records a continuous run's closing summary says it read (group 1, with thousands separators). */
  static final java.util.regex.Pattern SUMMARY_READ =
      java.util.regex.Pattern.compile("click-count continuous run: read ([0-9,]+) records");

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
    command.addAll(runnerOptions());
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
