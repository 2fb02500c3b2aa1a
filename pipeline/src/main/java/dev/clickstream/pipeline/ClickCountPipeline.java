package dev.clickstream.pipeline;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.io.Read;
import org.apache.beam.sdk.io.clickhouse.ClickHouseIO;
import org.apache.beam.sdk.io.clickhouse.TableSchema;
import org.apache.beam.sdk.io.kafka.KafkaIO;
import org.apache.beam.sdk.io.kafka.ProducerRecordCoder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.MetricNameFilter;
import org.apache.beam.sdk.metrics.MetricResult;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.metrics.MetricsFilter;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.Reshuffle;
import org.apache.beam.sdk.transforms.Values;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.transforms.windowing.AfterPane;
import org.apache.beam.sdk.transforms.windowing.AfterWatermark;
import org.apache.beam.sdk.transforms.windowing.FixedWindows;
import org.apache.beam.sdk.transforms.windowing.Window;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.Row;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Counts product clicks per event-time window: Kafka {@code clicks} → read, parse and count per (product, window)
 * inside the reader, dead letters to {@code clicks_dlq} ({@link ClickBatch}) → {@code FixedWindows} with allowed
 * lateness, an on-time pane and accumulating late panes → sum per product → Kafka {@code aggregation_clicks} and
 * ClickHouse {@code analytics.product_clicks}.
 *
 * <p>Continuous by default; with {@code --from}/{@code --to} a bounded run over the clicks already in the topic
 * whose event time lies in [from, to), which ends by itself. Options: {@link ClickCountOptions}.
 */
public final class ClickCountPipeline {
  private static final Logger LOG = LoggerFactory.getLogger(ClickCountPipeline.class);

  public static final String AGGREGATES_SENT = "aggregates_sent";
  public static final String ROWS_WRITTEN = "rows_written";

  private ClickCountPipeline() {}

  public static void main(String[] args) {
    ClickCountOptions options;
    Settings settings;
    try {
      options = parseOptions(args);
      settings = Settings.from(options);
    } catch (IllegalArgumentException e) {
      System.err.println("click-count-pipeline: " + e.getMessage());
      System.exit(2);
      return;
    }
    Supervisor supervisor = new Supervisor(options, settings);
    Thread stopper = new Thread(supervisor::stop, "click-count-shutdown");
    Runtime.getRuntime().addShutdownHook(stopper);
    int status = supervisor.runUntilDoneOrStopped();
    try {
      Runtime.getRuntime().removeShutdownHook(stopper);
    } catch (IllegalStateException shuttingDown) {
      return; // the JVM is already exiting on a signal
    }
    System.exit(status);
  }

  /**
   * Runs the pipeline from {@code main}. A bounded run is run once: exit 0 when it is done, 1 when it failed (the
   * orchestrator retries it), 2 when it refused to start. A continuous run that fails (ClickHouse or Kafka gone, a
   * write that gave up) is started again after a backoff of 1 s doubling to 30 s, and the restart rewinds the consumer
   * group to rebuild the windows the failed run had open ({@link #rewindForRestart}); only a refusal to start (bad
   * options, a table that does not fit) ends it. SIGTERM cancels the run in progress and ends it cleanly.
   */
  static final class Supervisor {
    private static final long MAX_BACKOFF_MILLIS = 30_000;
    private final ClickCountOptions options;
    private final Settings settings;
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile boolean stopping;
    private volatile PipelineResult current;

    Supervisor(ClickCountOptions options, Settings settings) {
      this.options = options;
      this.settings = settings;
    }

    int runUntilDoneOrStopped() {
      try {
        long backoff = 1000;
        while (!stopping) {
          long start = System.nanoTime();
          Started started = null;
          try {
            started = start(options);
            PipelineResult result = started.result();
            current = result;
            if (stopping) {
              cancelQuietly(result);
            }
            PipelineResult.State state = result.waitUntilFinish();
            long end = System.nanoTime();
            System.out.println(summary(result, settings, (end - start) / 1e9, (end - started.runNanos()) / 1e9));
            if (settings.bounded() || stopping) {
              LOG.info("stopped ({})", state);
              return state == PipelineResult.State.DONE || stopping ? 0 : 1;
            }
            LOG.warn("the continuous run ended by itself ({})", state);
          } catch (StartupRefusedException | IllegalArgumentException e) {
            System.err.println("click-count-pipeline: " + e.getMessage());
            return 2;
          } catch (RuntimeException e) {
            if (stopping) {
              return 0;
            }
            LOG.error("the pipeline failed: {}", rootMessage(e));
            if (settings.bounded()) {
              return 1;
            }
          } finally {
            if (started != null) {
              if (!started.result().getState().isTerminal()) {
                cancelQuietly(started.result());
              }
              int closed = KafkaClickSource.closeReadersOf(started.runId());
              if (closed > 0) {
                LOG.info("closed {} Kafka readers the ended run left open", closed);
              }
            }
          }
          if (System.nanoTime() - start > TimeUnit.MINUTES.toNanos(1)) {
            backoff = 1000; // it ran for a while: a new failure starts a new series
          }
          LOG.warn("restarting in {} s; the restart re-reads what the failed run had not finished", backoff / 1000.0);
          Thread.sleep(backoff);
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MILLIS);
        }
        return 0;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return 0;
      } finally {
        finished.countDown();
      }
    }

    /** SIGTERM: cancel the run in progress and wait (up to 30 s) for the summary. */
    void stop() {
      stopping = true;
      LOG.info("stopping: cancelling the pipeline");
      try {
        PipelineResult result = current;
        if (result != null) {
          cancelQuietly(result);
        }
        finished.await(30, TimeUnit.SECONDS);
      } catch (Exception e) {
        LOG.warn("could not stop cleanly: {}", e.toString());
      }
    }

    private static void cancelQuietly(PipelineResult result) {
      try {
        result.cancel();
      } catch (java.io.IOException | RuntimeException e) {
        LOG.warn("could not cancel the pipeline: {}", e.toString());
      }
    }

    private static String rootMessage(Throwable e) {
      Throwable root = e;
      while (root.getCause() != null && root.getCause() != root) {
        root = root.getCause();
      }
      return e.getMessage() + (root != e ? " (" + root + ")" : "");
    }
  }

  /**
   * DirectRunner settings for production runs from {@code main}, each unless the command line sets it. The checks
   * that every element is left unmodified and survives its coder cost a copy and an encoding of every element at
   * every step; they are for tests, which keep them (TestPipeline): measured on 1 M clicks here, they cut a naive
   * pipeline's speed by a factor of 5 to 6 (issue 6). And one worker thread per core rather than the runner's
   * default of at least 3: a third thread on this 2-core machine spun in the runner's watermark bookkeeping while
   * the two readers ran, and bounded runs took 8.4 s instead of 6.3 s.
   */
  static List<String> productionDirectRunnerFlags() {
    return List.of("--enforceImmutability=false", "--enforceEncodability=false",
        "--targetParallelism=" + Runtime.getRuntime().availableProcessors());
  }

  /**
   * Parses and validates the options. On the DirectRunner, {@code run} would block until the pipeline ends, leaving
   * no handle to cancel a continuous run on SIGTERM: unless told otherwise it returns at once instead; and the
   * {@link #productionDirectRunnerFlags} apply unless given.
   */
  public static ClickCountOptions parseOptions(String... args) {
    PipelineOptionsFactory.register(ClickCountOptions.class);
    ClickCountOptions options = PipelineOptionsFactory.fromArgs(args).withValidation().as(ClickCountOptions.class);
    if (options.getRunner().getSimpleName().equals("DirectRunner")) {
      List<String> withDefaults = new java.util.ArrayList<>(Arrays.asList(args));
      List<String> defaults = new java.util.ArrayList<>(productionDirectRunnerFlags());
      defaults.add("--blockOnRun=false");
      for (String flag : defaults) {
        String name = flag.substring(0, flag.indexOf('='));
        if (Arrays.stream(args).noneMatch(a -> a.equals(name) || a.startsWith(name + "="))) {
          withDefaults.add(flag);
        }
      }
      options = PipelineOptionsFactory.fromArgs(withDefaults.toArray(String[]::new)).withValidation()
          .as(ClickCountOptions.class);
    }
    return options;
  }

  /**
   * How long after a window's deadline (end + allowed lateness + watermark delay) its last pane may still be on its
   * way to the sinks when a run dies: a resumed run counts such windows again.
   */
  static final Duration RESTART_MARGIN = Duration.standardSeconds(30);

  /** Checks the settings, prepares Kafka and ClickHouse, builds the pipeline and starts it. */
  public static PipelineResult run(ClickCountOptions options) {
    return start(options).result();
  }

  /**
   * A started pipeline, when {@code Pipeline.run} was called ({@code System.nanoTime}), and the id its continuous
   * readers are registered under ({@link KafkaClickSource#closeReadersOf}).
   */
  record Started(PipelineResult result, long runNanos, String runId) {}

  static Started start(ClickCountOptions options) {
    Settings settings = Settings.from(options);
    LOG.info("starting with {}", settings);
    prepareSinks(settings);
    Long resumeFrom = settings.bounded() ? null : rewindForRestart(settings);
    Pipeline pipeline = Pipeline.create(options);
    String runId = java.util.UUID.randomUUID().toString();
    build(pipeline, settings, resumeFrom, runId);
    long runNanos = System.nanoTime();
    return new Started(pipeline.run(), runNanos, runId);
  }

  /** A continuous run resuming a consumer group re-reads what it needs to rebuild the windows that were open. */
  static Long rewindForRestart(Settings s) {
    long horizon = s.windowSize().plus(s.allowedLateness()).plus(s.maxOutOfOrderness()).plus(RESTART_MARGIN)
        .getMillis();
    try {
      return KafkaSetup.rewindForRestart(s.kafka(), s.inputTopic(), s.consumerGroup(),
          s.windowSize().getMillis(), horizon);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reading the consumer group's offsets", e);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException("cannot read or rewind the offsets of group " + s.consumerGroup() + ": "
          + e.getMessage(), e);
    }
  }

  /**
   * Creates what is missing (unless {@code --createSchema=false}), then refuses to start if the ClickHouse table
   * differs from the DDL: a mismatched table would silently get zero rows.
   */
  static void prepareSinks(Settings s) {
    // Kafka's topics and ClickHouse's table are independent: prepared side by side, which saves a few hundred
    // milliseconds of first-use class loading and round trips on every start (issue 6).
    CompletableFuture<Void> topics = CompletableFuture.runAsync(() -> {
      try {
        KafkaSetup.prepare(s.kafka(), s.createSchema()
            ? List.of(s.inputTopic(), s.outputTopic(), s.deadLetterTopic()) : List.of());
      } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
        throw new CompletionException(e);
      }
    });
    ClickHouseHttp clickHouse = ClickHouseHttp.forSettings(s);
    try {
      if (s.createSchema()) {
        for (String statement : ClickHouseSchema.statements(s.table())) {
          clickHouse.execute(statement);
        }
      }
      Map<String, String> live = clickHouse.columns(s.table());
      if (live.isEmpty()) {
        throw new StartupRefusedException("ClickHouse table " + s.table() + " does not exist; create it from "
            + ClickHouseSchema.DDL_RESOURCE + " or run with --createSchema=true");
      }
      ClickHouseSchema.checkLiveColumns(s.table(), live);
      topics.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while preparing Kafka and ClickHouse", e);
    } catch (java.io.IOException | CompletionException e) {
      Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
      if (cause instanceof java.util.concurrent.ExecutionException && cause.getCause() != null) {
        cause = cause.getCause();
      }
      if (cause instanceof org.apache.kafka.common.errors.AuthenticationException) {
        // A wrong password or certificate: trying again will not help, a person must fix the settings.
        throw new StartupRefusedException("Kafka at " + s.kafka() + " refused the connection: " + cause.getMessage());
      }
      throw new IllegalStateException("cannot prepare Kafka and ClickHouse: " + cause.getMessage(), cause);
    }
  }

  /**
   * The whole graph. {@code resumeFromMillis}: in a resumed continuous run, the first window start to count; the
   * windows before it were complete before the previous run stopped.
   */
  public static void build(Pipeline pipeline, Settings s, @Nullable Long resumeFromMillis, String runId) {
    Settings.Interval interval = s.bounded() ? s.interval()
        : resumeFromMillis == null ? null : new Settings.Interval(resumeFromMillis, Long.MAX_VALUE);
    Settings.Interval countedTimes = s.bounded() ? s.countInterval() : interval;
    TableSchema tableSchema = ClickHouseSchema.tableSchema();
    ClickHouseSchema.checkRowSchema(ClickHouseSchema.ROW_SCHEMA, tableSchema);

    ClickRules rules = new ClickRules(s.windowSize().getMillis(), s.allowedLateness().getMillis(), countedTimes,
        interval);
    PCollection<ClickBatch> batches = s.bounded()
        ? pipeline
            .apply("OffsetRanges", Create.of(keyedByPartition(boundedRanges(s)))
                .withCoder(KvCoder.of(VarIntCoder.of(), SerializableCoder.of(KafkaSetup.OffsetRange.class))))
            // One key per partition: a runner spreads the ranges over its workers (Create alone may hand every
            // range to one worker, which would then read the partitions one after the other).
            .apply("SpreadRanges", Reshuffle.of())
            .apply("Ranges", Values.create())
            .apply("ReadOffsetRanges", new ReadOffsetRanges(s.kafka(), rules))
        : pipeline.apply("ReadFromKafka", Read.from(new KafkaClickSource(s.kafka(), s.inputTopic(),
            s.consumerGroup(), rules, s.maxOutOfOrderness().getMillis(), null, runId)));
    Counted counted = count(batches, s.windowSize(), s.allowedLateness(), s.bounded());
    PCollection<WindowCount> counts = counted.counts();

    counts
        .apply("ToAggregateRecords", ParDo.of(new ToAggregateRecord(s.outputTopic())))
        .setCoder(RECORD_CODER)
        .apply("WriteToKafka", kafkaWrite(s, s.outputTopic(), "aggregates"));

    counts
        .apply("ToClickHouseRows", ParDo.of(new ToRow()))
        .setRowSchema(ClickHouseSchema.ROW_SCHEMA)
        .apply("WriteToClickHouse", ClickHouseIO.<Row>write(s.clickHouseWriteUrl(), s.table().table())
            .withTableSchema(tableSchema)
            .withMaxRetries(10)
            .withInitialBackoff(Duration.standardSeconds(1))
            .withMaxCumulativeBackoff(Duration.standardMinutes(5)));

    counted.deadLetters()
        .apply("ToDeadLetterRecords", ParDo.of(new ToDeadLetterRecord(s.deadLetterTopic())))
        .setCoder(RECORD_CODER)
        .apply("WriteDeadLetters", kafkaWrite(s, s.deadLetterTopic(), "dead-letters"));
  }

  /** What the readers' batches become: the counts for both sinks, and the dead letters. */
  record Counted(PCollection<WindowCount> counts, PCollection<DeadLetter> deadLetters) {}

  /**
   * The graph between the readers and the sinks: batches unpacked, partial counts windowed and summed. A bounded run
   * sums all products of a window under one key (see {@link CountClicksPerProduct#sumPerWindow}); a continuous run
   * per product, so that late panes carry only what changed, then gathers each pane's products for the sinks.
   */
  static Counted count(PCollection<ClickBatch> batches, Duration windowSize, Duration allowedLateness,
      boolean bounded) {
    PCollectionTuple unpacked = batches.apply("UnpackBatches", new UnpackBatches());
    PCollection<KV<Long, Long>> partialCounts = unpacked.get(UnpackBatches.PARTIAL_COUNTS)
        .apply("WindowCounts", ClickCountPipeline.<KV<Long, Long>>windowing(windowSize, allowedLateness));
    PCollection<WindowCount> counts = bounded
        ? partialCounts.apply("CountPerWindow", CountClicksPerProduct.sumPerWindow())
        : partialCounts.apply("CountPerProduct", CountClicksPerProduct.sumPerProduct())
            .apply("GatherPerWindow", new GatherPerWindow());
    return new Counted(counts, unpacked.get(UnpackBatches.DEAD_LETTERS));
  }

  /**
   * How much longer than the allowed lateness Beam keeps a window open. Which clicks count is decided by ClickRules,
   * by arrival; the watermark only says when a window's on-time pane fires. A click the arrival rule accepts can still
   * reach its window after the watermark passed the lateness: a producer that buffered it through a broker outage,
   * a reader that was behind. The grace keeps such a click from being dropped by Beam (seen in ServiceOutageIT).
   */
  static final Duration WATERMARK_GRACE = Duration.standardMinutes(5);

  /**
   * Event-time windows: one on-time pane when the watermark passes the window, then a late pane for every arrival
   * of late clicks, each with the accumulated count. Beam keeps a window for the allowed lateness plus {@link
   * #WATERMARK_GRACE}; ClickRules has already removed the clicks that came later than the allowed lateness.
   */
  public static <T> Window<T> windowing(Duration windowSize, Duration allowedLateness) {
    return Window.<T>into(FixedWindows.of(windowSize))
        .triggering(AfterWatermark.pastEndOfWindow().withLateFirings(AfterPane.elementCountAtLeast(1)))
        .withAllowedLateness(allowedLateness.plus(WATERMARK_GRACE), Window.ClosingBehavior.FIRE_IF_NON_EMPTY)
        .accumulatingFiredPanes();
  }

  /**
   * Gathers the counts of all products of a window's pane into one bundle before the sinks. Downstream of a
   * GroupByKey the DirectRunner makes one bundle per key (here: per product), and ClickHouseIO inserts, like KafkaIO
   * flushes, once per bundle: without this a window of 100 products cost 100 one-row inserts, each a part for
   * ClickHouse to merge. The on-time pane waits for the watermark that fired it; late panes pass on as they come
   * (discarding: each WindowCount already holds its accumulated count).
   */
  static final class GatherPerWindow extends PTransform<PCollection<WindowCount>, PCollection<WindowCount>> {
    @Override
    public PCollection<WindowCount> expand(PCollection<WindowCount> counts) {
      return counts
          .apply("OneKey", WithKeys.<Integer, WindowCount>of(0).withKeyType(TypeDescriptors.integers()))
          .setCoder(KvCoder.of(VarIntCoder.of(), WindowCount.WindowCountCoder.of()))
          .apply("Discarding", Window.<KV<Integer, WindowCount>>configure().discardingFiredPanes())
          .apply("Group", GroupByKey.create())
          .apply("Ungroup", ParDo.of(new DoFn<KV<Integer, Iterable<WindowCount>>, WindowCount>() {
            @ProcessElement
            public void process(@Element KV<Integer, Iterable<WindowCount>> pane, OutputReceiver<WindowCount> out) {
              pane.getValue().forEach(out::output);
            }
          }))
          .setCoder(WindowCount.WindowCountCoder.of());
    }
  }

  private static final ProducerRecordCoder<byte[], byte[]> RECORD_CODER =
      ProducerRecordCoder.of(NullableCoder.of(ByteArrayCoder.of()), NullableCoder.of(ByteArrayCoder.of()));

  /**
   * An idempotent, acks=all producer; with {@code --kafkaExactlyOnce}, KafkaIO's exactly-once sink: one transactional
   * producer (shard) per sink, committing with the runner's checkpoints under the group {@code <consumerGroup>-<sink>}.
   */
  static KafkaIO.WriteRecords<byte[], byte[]> kafkaWrite(Settings s, String topic, String sink) {
    return kafkaWrite(s.kafka(), topic, s.kafkaExactlyOnce() ? s.consumerGroup() + "-" + sink : null);
  }

  static KafkaIO.WriteRecords<byte[], byte[]> kafkaWrite(KafkaClient kafka, String topic,
      @Nullable String exactlyOnceGroup) {
    Map<String, Object> producer = new java.util.HashMap<>(kafka.producerSettings());
    producer.put(ProducerConfig.ACKS_CONFIG, "all");
    producer.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    producer.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, 5);
    KafkaIO.WriteRecords<byte[], byte[]> write = KafkaIO.<byte[], byte[]>writeRecords()
        .withBootstrapServers(kafka.bootstrapServers())
        .withTopic(topic)
        .withKeySerializer(ByteArraySerializer.class)
        .withValueSerializer(ByteArraySerializer.class)
        .withProducerConfigUpdates(producer);
    return exactlyOnceGroup != null ? write.withEOS(1, exactlyOnceGroup) : write;
  }

  private static List<KV<Integer, KafkaSetup.OffsetRange>> keyedByPartition(List<KafkaSetup.OffsetRange> ranges) {
    return ranges.stream().map(r -> KV.of(r.partition(), r)).toList();
  }

  /**
   * A bounded run's offset ranges: the records that can matter to [from, to). Clicks of the interval arrive at most
   * MAX_FUTURE_SKEW before their event time and, to count, no later than the last window's end plus the allowed
   * lateness; rejections are owned by the run whose interval holds their Kafka timestamp. maxOutOfOrderness more at
   * the end tolerates Kafka timestamps that are slightly out of order. Empty ranges are left out.
   */
  static List<KafkaSetup.OffsetRange> boundedRanges(Settings s) {
    Settings.Interval interval = s.countInterval();
    long readFrom = interval.fromMillis() - ClickParser.MAX_FUTURE_SKEW_MILLIS;
    long readTo = interval.toMillis() + s.allowedLateness().getMillis() + 1 + s.maxOutOfOrderness().getMillis();
    List<KafkaSetup.OffsetRange> ranges = KafkaSetup.offsetRanges(s.kafka(), s.inputTopic(), readFrom,
        readTo);
    LOG.info("bounded run over {}: reading {} by offsets {}", interval, s.inputTopic(), ranges);
    return ranges;
  }

  static final class ToAggregateRecord extends DoFn<WindowCount, ProducerRecord<byte[], byte[]>> {
    private final String topic;
    private final Counter sent = Metrics.counter(UnpackBatches.NAMESPACE, AGGREGATES_SENT);

    ToAggregateRecord(String topic) {
      this.topic = topic;
    }

    @ProcessElement
    public void process(@Element WindowCount count, OutputReceiver<ProducerRecord<byte[], byte[]>> out) {
      sent.inc();
      out.output(new ProducerRecord<>(topic, count.key(), count.toJson()));
    }
  }

  static final class ToRow extends DoFn<WindowCount, Row> {
    private final Counter written = Metrics.counter(UnpackBatches.NAMESPACE, ROWS_WRITTEN);

    @ProcessElement
    public void process(@Element WindowCount count, OutputReceiver<Row> out) {
      written.inc();
      out.output(count.toRow());
    }
  }

  static final class ToDeadLetterRecord extends DoFn<DeadLetter, ProducerRecord<byte[], byte[]>> {
    private final String topic;

    ToDeadLetterRecord(String topic) {
      this.topic = topic;
    }

    @ProcessElement
    public void process(@Element DeadLetter deadLetter, OutputReceiver<ProducerRecord<byte[], byte[]>> out) {
      out.output(deadLetter.toProducerRecord(topic));
    }
  }

  /**
   * The one-line account of a finished run, from its metrics: its time from the start of the checks, and the part of
   * it from {@code Pipeline.run} on (the "net job time" of a job, without the checks of Kafka and ClickHouse and the
   * building of the graph).
   */
  static String summary(PipelineResult result, Settings s, double seconds, double runSeconds) {
    long read = counter(result, UnpackBatches.RECORDS_READ);
    return String.format(Locale.ROOT,
        "click-count %s: read %,d records, counted %,d clicks, dead-lettered %,d malformed and %,d too late,"
            + " skipped %,d outside the interval; wrote %,d rows to ClickHouse and %,d aggregates to Kafka"
            + " in %.1f s (%,.0f records/s), of which %.1f s running the pipeline (%,.0f records/s)",
        s.bounded() ? "bounded run " + s.interval() + (s.early() == null ? "" : " (and early " + s.early() + ")")
            : "continuous run", read,
        counter(result, UnpackBatches.COUNTED), counter(result, UnpackBatches.MALFORMED),
        counter(result, UnpackBatches.TOO_LATE), counter(result, UnpackBatches.OUTSIDE_INTERVAL),
        counter(result, ROWS_WRITTEN), counter(result, AGGREGATES_SENT), seconds, read / Math.max(seconds, 1e-3),
        runSeconds, read / Math.max(runSeconds, 1e-3));
  }

  static long counter(PipelineResult result, String name) {
    long total = 0;
    for (MetricResult<Long> c : result.metrics().queryMetrics(MetricsFilter.builder()
        .addNameFilter(MetricNameFilter.named(UnpackBatches.NAMESPACE, name)).build()).getCounters()) {
      Long value = c.getAttempted();
      total += value == null ? 0 : value;
    }
    return total;
  }
}
