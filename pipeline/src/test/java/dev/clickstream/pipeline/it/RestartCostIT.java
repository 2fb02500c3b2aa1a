package dev.clickstream.pipeline.it;

import dev.clickstream.pipeline.config.Settings;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.lessThan;
import static org.hamcrest.Matchers.lessThanOrEqualTo;
import static org.junit.jupiter.api.Assertions.assertTrue;


/**
 * What a restart of the continuous pipeline costs on the DirectRunner: the re-read after a restart is
 * bounded by what the open windows need, not by the quietest partition; and repeated failures, each followed by an
 * in-process restart, do not pile up Kafka consumers, threads, sockets or heap.
 */
@Tag("services")
@Tag("direct-runner")
class RestartCostIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);
  private static final Path STACK_DIR = Path.of(System.getProperty("stack.dir", "../.local-stack"));
  private static final int FAILURES = 4;
  private static final int KAFKA_PORT =
      Integer.parseInt(LocalStack.KAFKA.substring(LocalStack.KAFKA.lastIndexOf(':') + 1));
  private static final int CLICKHOUSE_PORT = java.net.URI.create(LocalStack.CLICKHOUSE_HTTP).getPort();

  // Partition 1 got two clicks a day ago and nothing since; partition 0 a day of history, then new clicks after a
  // SIGKILL. The restart must re-read minutes of partition 0, not the day back to partition 1's last click.
  @Test
  void aQuietPartitionDoesNotMakeTheRestartReReadTheDay() throws Exception {
    LocalStack.requireRunning();
    String topic = "it_quiet_" + RUN;
    String table = "analytics.it_quiet_" + RUN;
    String group = "it_quiet_" + RUN;
    LocalStack.createTopic(topic, 2);
    long now = System.currentTimeMillis();
    long day = Duration.ofDays(1).toMillis();
    int history = 20_000;
    try (KafkaProducer<byte[], byte[]> producer = producer()) {
      send(producer, topic, 1, now - day);
      for (int i = 0; i < history; i++) {
        send(producer, topic, 0, now - day + (day - Duration.ofHours(1).toMillis()) * i / history);
      }
    }
    String[] options = {"--inputTopic=" + topic, "--outputTopic=" + topic + "_agg",
        "--deadLetterTopic=" + topic + "_dlq", "--clickHouseTable=" + table, "--consumerGroup=" + group,
        "--windowSize=PT600S", "--allowedLateness=PT60S"};
    Path firstLog = Files.createTempFile("quiet-first-", ".log");
    Process first = LocalStack.startPipeline(firstLog, options);
    Process second = null;
    try {
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
      while (clicksBefore(table, now - Duration.ofMinutes(30).toMillis()) < history + 1L && first.isAlive()
          && System.nanoTime() < deadline) {
        Thread.sleep(500);
      }
      // Partition 1's last click of the day, in a batch of its own (two batches: its first one gets committed
      // whatever the reader does when idle).
      try (KafkaProducer<byte[], byte[]> producer = producer()) {
        send(producer, topic, 1, now - day + 1000);
      }
      awaitCommitted(group, new TopicPartition(topic, 1), 1, first, firstLog);
      awaitCommitted(group, new TopicPartition(topic, 0), history, first, firstLog);
      first.destroyForcibly().waitFor(30, TimeUnit.SECONDS);

      int fresh = 50;
      try (KafkaProducer<byte[], byte[]> producer = producer()) {
        for (int i = 0; i < fresh; i++) {
          send(producer, topic, 0, System.currentTimeMillis());
        }
      }
      Path secondLog = Files.createTempFile("quiet-second-", ".log");
      second = LocalStack.startPipeline(secondLog, options);
      awaitCommitted(group, new TopicPartition(topic, 0), history + fresh, second, secondLog);
      second.destroy(); // SIGTERM: the run prints its summary
      assertTrue(second.waitFor(60, TimeUnit.SECONDS));
      String log = Files.readString(secondLog);
      // The history's windows were closed and counted by the first run, and still are.
      assertThat(log, clicksBefore(table, now - Duration.ofMinutes(30).toMillis()), equalTo(history + 1L));
      Matcher read = LocalStack.SUMMARY_READ.matcher(log);
      assertTrue(read.find(), log);
      long reRead = Long.parseLong(read.group(1).replace(",", ""));
      System.err.printf("restart after a day-old quiet partition: read %,d records (%,d new)%n", reRead, fresh);
      assertThat(reRead, lessThan(2_000L)); // the last minutes of history, not the day of it
    } finally {
      first.destroyForcibly();
      if (second != null) {
        second.destroyForcibly();
      }
    }
  }

  // ClickHouse killed four times under a live stream: four failed runs, each restarted in the same JVM. Afterwards
  // the JVM holds no more Kafka consumers, threads, sockets or heap than after its first start.
  @Test
  void repeatedFailuresDoNotPileUpConsumersThreadsSocketsOrHeap() throws Exception {
    LocalStack.requireRunning();
    String topic = "it_fail_" + RUN;
    String table = "analytics.it_fail_" + RUN;
    LocalStack.createTopic(topic, 2);
    CompletableFuture<dev.clickstream.generator.Oracle> clicks = LocalStack.generateInBackground("--topic", topic,
        "--start", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(), "--pace", "real", "--duration", "PT100S",
        "--rate", "100", "--window-size", "PT2S", "--allowed-lateness", "PT5S", "--progress-interval", "PT30S");
    Path log = Files.createTempFile("failures-", ".log");
    Process pipeline = LocalStack.startPipeline(log, "--inputTopic=" + topic, "--outputTopic=" + topic + "_agg",
        "--deadLetterTopic=" + topic + "_dlq", "--clickHouseTable=" + table, "--consumerGroup=it_fail_" + RUN,
        "--windowSize=PT2S", "--allowedLateness=PT5S", "--maxOutOfOrderness=PT1S");
    try {
      // The first windows are in ClickHouse: the readers, both Kafka writers and the ClickHouse writer are up. (A
      // fixed 15 s once sampled a JVM that had not started its pipeline yet, on a fresh machine's cold disk.)
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
      while (clicksBefore(table, Long.MAX_VALUE) == 0 && pipeline.isAlive() && System.nanoTime() < deadline) {
        Thread.sleep(500);
      }
      assertThat(Files.readString(log), clicksBefore(table, Long.MAX_VALUE), greaterThan(0L));
      Thread.sleep(5_000);
      Resources before = Resources.settled(pipeline);
      for (int failure = 1; failure <= FAILURES; failure++) {
        killClickHouse();
        awaitLogCount(log, "the pipeline failed", failure, pipeline);
        startClickHouse();
        awaitLogCount(log, "starting with Settings", failure + 1, pipeline);
      }
      Thread.sleep(10_000); // the last restart's readers are up and writing
      assertTrue(pipeline.isAlive(), Files.readString(log));
      Resources after = Resources.settled(pipeline);
      System.err.printf("after %d failures and restarts: %s; after the first start: %s%n", FAILURES, after, before);
      // The DirectRunner drops and recreates readers now and then, and a sample may catch one being replaced: one
      // KafkaIO reader per partition, each with two consumers (its records and its backlog's offsets), so 4 at most,
      // not 2 more per failed run (8 more after 4 failures before the launcher closed the readers of a failed run).
      // The two KafkaIO writers hold a producer per DoFn instance, and the DirectRunner may add an instance.
      String clients = "Kafka clients now: " + after + ", after the first start: " + before;
      assertThat(clients, after.consumers(), lessThanOrEqualTo(Math.max(before.consumers(), 4L)));
      assertThat(clients, after.producers(), lessThanOrEqualTo(before.producers() + 2));
      assertThat(clients, after.admins(), lessThanOrEqualTo(before.admins()));
      assertThat("Java threads now: " + javaThreadNames(pipeline), after.threads(),
          lessThanOrEqualTo(before.threads() + 5));
      // Every socket to the broker belongs to a live client: with one broker a Kafka client holds at most three
      // (its bootstrap connection, which outlives the metadata fetch until it idles out, the broker's node, and a
      // group coordinator). Comparing raw counts instead was noise: 6 clients held 9 to 13 sockets between two
      // settled samples, with nothing piling up. To ClickHouse, the JDK's HTTP keep-alive cache holds up to 5
      // connections (in CLOSE_WAIT after a kill until its cleaner runs).
      String peers = "sockets by peer now: " + after.socketPeers() + ", after the first start: " + before.socketPeers()
          + "; " + clients;
      assertThat(peers + "; broker sockets beyond 3 per live client (least of the samples)",
          after.brokerSocketsBeyondClients(), lessThanOrEqualTo(0L));
      assertThat(peers, after.socketsTo(CLICKHOUSE_PORT), lessThanOrEqualTo(before.socketsTo(CLICKHOUSE_PORT) + 3));
      assertThat(peers, after.sockets() - after.socketsTo(KAFKA_PORT) - after.socketsTo(CLICKHOUSE_PORT),
          lessThanOrEqualTo(before.sockets() - before.socketsTo(KAFKA_PORT) - before.socketsTo(CLICKHOUSE_PORT) + 2));
      assertThat(after.heapUsedKb(), lessThan(before.heapUsedKb() + 64 * 1024));
      assertThat(before.consumers(), greaterThan(0L));
      clicks.get(3, TimeUnit.MINUTES);
    } finally {
      pipeline.destroy();
      pipeline.waitFor(30, TimeUnit.SECONDS);
      startClickHouse();
    }
  }

  /** What the pipeline's JVM holds: live KafkaConsumer objects (after a full GC), threads, sockets, heap in use. */
  record Resources(long consumers, long producers, long admins, long threads, long sockets,
      Map<String, Long> socketPeers, long brokerSocketsBeyondClients, long heapUsedKb) {
    /**
     * The least of three samples a second apart, field by field (readers come and go for a moment); the sockets from
     * the sample with the fewest.
     */
    static Resources settled(Process p) throws Exception {
      Resources least = of(p);
      for (int i = 0; i < 2; i++) {
        Thread.sleep(1000);
        Resources r = of(p);
        Resources fewerSockets = r.sockets < least.sockets ? r : least;
        least = new Resources(Math.min(least.consumers, r.consumers), Math.min(least.producers, r.producers),
            Math.min(least.admins, r.admins), Math.min(least.threads, r.threads),
            fewerSockets.sockets, fewerSockets.socketPeers,
            Math.min(least.brokerSocketsBeyondClients, r.brokerSocketsBeyondClients),
            Math.min(least.heapUsedKb, r.heapUsedKb));
      }
      return least;
    }

    /** Sockets open to the given port on any host. */
    long socketsTo(int port) {
      return socketPeers.entrySet().stream().filter(e -> e.getKey().endsWith(":" + port))
          .mapToLong(Map.Entry::getValue).sum();
    }

    /**
     * One sample. The broker's sockets are counted before and after the class histogram, and the smaller count is
     * compared with the live clients: a reader closed during the histogram (about a second, with its full GC) would
     * otherwise count its sockets but not its consumers.
     */
    static Resources of(Process p) throws Exception {
      long brokerSocketsBefore = socketsByPeer(p.pid()).entrySet().stream()
          .filter(e -> e.getKey().endsWith(":" + KAFKA_PORT)).mapToLong(Map.Entry::getValue).sum();
      String histogram = jcmd(p, "GC.class_histogram");
      long consumers = 0;
      long producers = 0;
      long admins = 0;
      for (String line : histogram.split("\n")) {
        String[] f = line.trim().split("\\s+");
        if (f.length >= 4) {
          switch (f[3]) {
            case "org.apache.kafka.clients.consumer.KafkaConsumer" -> consumers = Long.parseLong(f[1]);
            case "org.apache.kafka.clients.producer.KafkaProducer" -> producers = Long.parseLong(f[1]);
            case "org.apache.kafka.clients.admin.KafkaAdminClient" -> admins = Long.parseLong(f[1]);
            default -> { }
          }
        }
      }
      Matcher used = Pattern.compile("used (\\d+)K").matcher(jcmd(p, "GC.heap_info"));
      long heap = used.find() ? Long.parseLong(used.group(1)) : -1;
      long threads = javaThreadNames(p).size();
      Map<String, Long> byPeer = socketsByPeer(p.pid());
      long sockets = byPeer.values().stream().mapToLong(Long::longValue).sum();
      long brokerSockets = Math.min(brokerSocketsBefore, byPeer.entrySet().stream()
          .filter(e -> e.getKey().endsWith(":" + KAFKA_PORT)).mapToLong(Map.Entry::getValue).sum());
      return new Resources(consumers, producers, admins, threads, sockets, byPeer,
          brokerSockets - 3 * (consumers + producers + admins), heap);
    }

    /** The process's sockets, counted by "state :peer port" ("other" for those not in /proc/PID/net/tcp*). */
    private static Map<String, Long> socketsByPeer(long pid) throws java.io.IOException {
      Map<String, String> peers = tcpPeersByInode(pid);
      Map<String, Long> byPeer = new java.util.TreeMap<>();
      try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
        for (Path fd : fds.toList()) {
          try {
            String link = Files.readSymbolicLink(fd).toString();
            if (link.startsWith("socket:")) {
              String inode = link.substring("socket:[".length(), link.length() - 1);
              byPeer.merge(peers.getOrDefault(inode, "other"), 1L, Long::sum);
            }
          } catch (java.io.IOException closedMeanwhile) {
            // gone between the listing and the read
          }
        }
      }
      return byPeer;
    }

    /**
     * Each TCP socket's inode, to "state :port" (the peer's port; its own for a listening socket) from
     * /proc/PID/net/tcp and tcp6, so that a failure names what the extra sockets are connected to.
     */
    private static Map<String, String> tcpPeersByInode(long pid) throws java.io.IOException {
      Map<String, String> peers = new java.util.HashMap<>();
      for (String table : List.of("tcp", "tcp6")) {
        Path path = Path.of("/proc/" + pid + "/net/" + table);
        if (!Files.exists(path)) {
          continue;
        }
        for (String line : Files.readAllLines(path)) {
          String[] f = line.trim().split("\\s+");
          if (f.length < 10 || !f[2].contains(":")) {
            continue; // the header
          }
          String state = switch (f[3]) {
            case "01" -> "established";
            case "08" -> "close-wait";
            case "0A" -> "listen";
            default -> "state-" + f[3];
          };
          String address = state.equals("listen") ? f[1] : f[2]; // a listening socket's own port, else the peer's
          peers.put(f[9], state + " :" + Integer.parseInt(address.substring(address.indexOf(':') + 1), 16));
        }
      }
      return peers;
    }
  }

  /**
   * The JVM's Java threads, by name, without the JIT's compiler threads: the JVM adds and removes those with the
   * compilation load (and the GC its own with the heap's), which moved the count of all native threads by one or two
   * between samples, whatever the pipeline did. Nor the DirectRunner's {@code direct-metrics-counter-committer}
   * threads: each run makes a cached pool of them, whose idle threads end a minute later, so a sample taken within a
   * minute of the restarts counted the ended runs' too (38 against a bound of 37 once, with nothing piling up).
   */
  static List<String> javaThreadNames(Process p) throws Exception {
    List<String> names = new java.util.ArrayList<>();
    for (String line : jcmd(p, "Thread.print").split("\n")) {
      int end = line.lastIndexOf('"');
      if (line.startsWith("\"") && end > 0 && line.contains(" prio=") && !line.contains("CompilerThread")
          && !line.startsWith("\"direct-metrics-counter-committer")) {
        names.add(line.substring(1, end));
      }
    }
    return names;
  }

  private static String jcmd(Process p, String command) throws Exception {
    Process jcmd = new ProcessBuilder("jcmd", Long.toString(p.pid()), command).redirectErrorStream(true).start();
    String out = new String(jcmd.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(jcmd.waitFor(60, TimeUnit.SECONDS), "jcmd " + command);
    return out;
  }

  private static void killClickHouse() throws Exception {
    long pid = Long.parseLong(Files.readString(STACK_DIR.resolve("clickhouse/clickhouse.pid")).strip());
    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    ProcessHandle.of(pid).ifPresent(h -> h.onExit().join());
  }

  private static void startClickHouse() throws Exception {
    Process p = new ProcessBuilder("../services/local-stack.sh", "start", "clickhouse").inheritIO().start();
    assertTrue(p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0, "local-stack.sh start clickhouse");
  }

  private static void awaitLogCount(Path log, String line, int count, Process pipeline) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (System.nanoTime() < deadline && pipeline.isAlive()) {
      if (Files.readString(log).split(Pattern.quote(line), -1).length - 1 >= count) {
        return;
      }
      Thread.sleep(200);
    }
    throw new AssertionError("no " + count + " x '" + line + "' in the pipeline's log:\n" + Files.readString(log));
  }

  private static void awaitCommitted(String group, TopicPartition tp, long offset, Process pipeline, Path log)
      throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
    try (Admin admin = LocalStack.admin()) {
      while (System.nanoTime() < deadline && pipeline.isAlive()) {
        Map<TopicPartition, OffsetAndMetadata> committed =
            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
        if (committed.get(tp) != null && committed.get(tp).offset() >= offset) {
          Thread.sleep(3_000); // the windows fired before the commit reach ClickHouse
          return;
        }
        Thread.sleep(500);
      }
    }
    throw new AssertionError(group + " never committed " + tp + " up to " + offset + ":\n" + Files.readString(log));
  }

  /** The clicks counted in the windows that start before {@code millis}. */
  private static long clicksBefore(String table, long millis) throws Exception {
    String sum;
    try {
      sum = LocalStack.query("SELECT sum(count) FROM " + table + " FINAL WHERE timestamp < " + millis).strip();
    } catch (java.io.IOException notCreatedYet) {
      return 0;
    }
    return sum.isEmpty() ? 0 : Long.parseLong(sum);
  }

  private static KafkaProducer<byte[], byte[]> producer() {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, LocalStack.KAFKA);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
  }

  /** A click of product 1 whose event time is its Kafka timestamp, to one partition. */
  private static void send(KafkaProducer<byte[], byte[]> producer, String topic, int partition, long millis) {
    byte[] click = ("{\"product_id\":1,\"user_id\":1,\"timestamp\":" + millis + "}").getBytes(StandardCharsets.UTF_8);
    producer.send(new ProducerRecord<>(topic, partition, millis, null, click));
  }
}
