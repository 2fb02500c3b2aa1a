package dev.clickstream.generator;

import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Writes JSON click events to Kafka: a steady event-time rate, with bursts, late and malformed records on request,
 * uniform or Zipf product popularity, deterministic for a seed. With {@code --expected FILE} it also writes the exact
 * counts the pipeline must end with (see {@link Oracle}). Progress goes to stderr; the exit status is non-zero if
 * Kafka did not acknowledge every record. Flags: {@link GeneratorConfig#usage()}.
 */
public final class ClickGenerator {

  /** What one run did; {@code acked == sent} and {@code failed == 0} for a good run. */
  public record Summary(long sent, long acked, long failed, Duration elapsed, Oracle oracle) {
    public boolean ok() {
      return failed == 0 && acked == sent;
    }

    public double ratePerSecond() {
      return sent / Math.max(1e-3, elapsed.toNanos() / 1e9);
    }
  }

  private ClickGenerator() {}

  public static void main(String[] args) {
    GeneratorConfig config;
    try {
      if (List.of(args).contains("--help")) {
        System.out.println(GeneratorConfig.usage());
        return;
      }
      config = GeneratorConfig.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("click-generator: " + e.getMessage());
      System.exit(2);
      return;
    }
    try {
      Summary summary = run(config, System.err);
      System.exit(summary.ok() ? 0 : 1);
    } catch (Exception e) {
      System.err.println("click-generator: failed: " + e);
      System.exit(1);
    }
  }

  public static Summary run(GeneratorConfig config, PrintStream progress) throws Exception {
    ensureTopic(config);
    ClickStream stream = new ClickStream(config);
    Oracle oracle = Oracle.forConfig(config);
    AtomicLong acked = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    AtomicReference<Exception> firstError = new AtomicReference<>();
    long sent = 0;
    progress.printf(Locale.ROOT, "generating %,d records to %s/%s, event time from %s, %s%n",
        stream.total(), config.bootstrapServers(), config.topic(), config.start(), rates(config));
    // One callback for every record, not one made per send.
    org.apache.kafka.clients.producer.Callback onAck = (metadata, exception) -> {
      if (exception == null) {
        acked.incrementAndGet();
      } else {
        failed.incrementAndGet();
        firstError.compareAndSet(null, exception);
      }
    };
    long startNanos;
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProperties(config))) {
      // The rate counts from a ready producer, as Kafka's ProducerPerformance does, which the benchmark compares
      // it with; the first sends still wait for the topic's metadata.
      startNanos = System.nanoTime();
      long nextReport = startNanos + config.progressInterval().toNanos();
      long lastReport = startNanos;
      long sentAtLastReport = 0;
      boolean realPace = config.pace() == GeneratorConfig.Pace.REAL;
      while (stream.hasNext()) {
        ClickStream.Record record = stream.next();
        if (realPace) {
          sleepUntilWallClock(record.arrivalMillis() - config.clockOffset().toMillis());
        }
        oracle.add(record);
        producer.send(
            new ProducerRecord<>(config.topic(), null, record.arrivalMillis(), record.key(), record.value()), onAck);
        sent++;
        if (!realPace && (sent & 1023) != 0) {
          continue; // as fast as Kafka takes them: the clock is read every 1,024 records, not per record
        }
        long now = System.nanoTime();
        if (now >= nextReport) {
          // The rate since the last line as well as the average: a burst shows while it lasts.
          String recent = String.format(Locale.ROOT, " (%,.0f/s in the last %.1f s)",
              (sent - sentAtLastReport) / ((now - lastReport) / 1e9), (now - lastReport) / 1e9);
          report(progress, "progress", sent, stream.total(), acked.get(), failed.get(), now - startNanos, recent);
          lastReport = now;
          sentAtLastReport = sent;
          nextReport = now + config.progressInterval().toNanos();
        }
      }
      producer.flush();
    }
    long elapsed = System.nanoTime() - startNanos;
    report(progress, "done", sent, stream.total(), acked.get(), failed.get(), elapsed, "");
    progress.printf(Locale.ROOT, "oracle: %,d counted in %,d (product, window) cells, %,d late of which %,d too late,"
            + " %,d malformed%n",
        oracle.counted(), oracle.counts().size(), oracle.late(), oracle.tooLate(), oracle.malformed());
    if (firstError.get() != null) {
      progress.println("ERROR: Kafka rejected " + failed.get() + " records; first error: " + firstError.get());
    }
    if (config.expectedFile() != null) {
      oracle.write(config.expectedFile());
      progress.println("expected counts written to " + config.expectedFile());
    }
    return new Summary(sent, acked.get(), failed.get(), Duration.ofNanos(elapsed), oracle);
  }

  /** The rates a run holds, as the start line says them: "1,000 clicks/s (bursts: 10,000/s for PT10S every PT1M)". */
  static String rates(GeneratorConfig config) {
    String steady = String.format(Locale.ROOT, "%,.0f clicks/s of event time", config.rate());
    GeneratorConfig.Burst burst = config.burst();
    return burst == null ? steady : steady + String.format(Locale.ROOT, " (bursts: %,.0f/s for %s every %s)",
        burst.rate(), burst.length(), burst.every());
  }

  private static void report(PrintStream out, String what, long sent, long total, long acked, long failed,
      long elapsedNanos, String recent) {
    double seconds = elapsedNanos / 1e9;
    out.printf(Locale.ROOT, "%s: sent %,d of %,d (%.0f%%), acked %,d, failed %,d, %,.0f records/s%s, %.1f s elapsed%n",
        what, sent, total, 100.0 * sent / Math.max(1, total), acked, failed, sent / Math.max(seconds, 1e-3), recent,
        seconds);
  }

  /**
   * Real pace: a record goes when the wall clock reaches its arrival time, so that a live stream's event times track
   * the clock however long the JVM took to start (a start in the past first catches up at full speed). Waits under a
   * millisecond are not slept: at 20,000 clicks/s that would cost more than the gap between two records.
   */
  private static void sleepUntilWallClock(long epochMillis) throws InterruptedException {
    long wait = epochMillis - System.currentTimeMillis();
    if (wait > 0) {
      Thread.sleep(wait);
    }
  }

  /**
   * The settings of {@code --command-config} (TLS, SASL, ...), then the brokers: the start of every client's
   * configuration. The generator's own producer settings below come after and win.
   */
  static Properties clientProperties(GeneratorConfig config) {
    Properties p = new Properties();
    if (config.commandConfig() != null) {
      try (java.io.Reader in = java.nio.file.Files.newBufferedReader(config.commandConfig())) {
        p.load(in);
      } catch (java.io.IOException e) {
        throw new IllegalArgumentException("--command-config: cannot read " + config.commandConfig() + ": " + e, e);
      }
    }
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    return p;
  }

  static Properties producerProperties(GeneratorConfig config) {
    Properties p = clientProperties(config);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    // Every record acknowledged by all in-sync replicas, written once even if the producer retries.
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "10");
    p.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(256 * 1024));
    p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, Long.toString(64L * 1024 * 1024));
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
    p.put(ProducerConfig.CLIENT_ID_CONFIG, "click-generator");
    return p;
  }

  /** Creates the topic with {@code --partitions} partitions if it is missing; an existing topic is left as it is. */
  static void ensureTopic(GeneratorConfig config) throws InterruptedException, ExecutionException {
    Properties p = clientProperties(config);
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    try (Admin admin = Admin.create(p)) {
      admin.createTopics(List.of(new NewTopic(config.topic(), Optional.of(config.partitions()), Optional.empty())))
          .all().get();
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) {
        throw e;
      }
    }
  }
}
