package dev.clickstream.pipeline;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.io.clickhouse.ClickHouseIO;
import org.apache.beam.sdk.io.clickhouse.TableSchema;
import org.apache.beam.sdk.io.kafka.KafkaIO;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.io.kafka.KafkaSourceDescriptor;
import org.apache.beam.sdk.io.kafka.ProducerRecordCoder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.MetricNameFilter;
import org.apache.beam.sdk.metrics.MetricResult;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.metrics.MetricsFilter;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.windowing.AfterPane;
import org.apache.beam.sdk.transforms.windowing.AfterWatermark;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.transforms.windowing.FixedWindows;
import org.apache.beam.sdk.transforms.windowing.Window;
import org.apache.beam.sdk.values.PBegin;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.Row;
import org.apache.beam.sdk.values.TypeDescriptor;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.joda.time.Duration;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Counts product clicks per event-time window: Kafka {@code clicks} → parse (dead letters to {@code clicks_dlq}) →
 * {@code FixedWindows} with allowed lateness, an on-time pane and accumulating late panes → count per product →
 * Kafka {@code aggregation_clicks} and ClickHouse {@code analytics.product_clicks}.
 *
 * <p>Continuous by default; with {@code --from}/{@code --to} a bounded run over the clicks already in the topic
 * whose event time lies in [from, to), which ends by itself. Options: {@link ClickCountOptions}.
 */
public final class ClickCountPipeline {
  private static final Logger LOG = LoggerFactory.getLogger(ClickCountPipeline.class);

  public static final String RECORDS_READ = "records_read";
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
          try {
            PipelineResult result = run(options);
            current = result;
            if (stopping) {
              cancelQuietly(result);
            }
            PipelineResult.State state = result.waitUntilFinish();
            System.out.println(summary(result, settings, (System.nanoTime() - start) / 1e9));
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
   * Parses and validates the options. On the DirectRunner, {@code run} would block until the pipeline ends, leaving
   * no handle to cancel a continuous run on SIGTERM: unless told otherwise it returns at once instead.
   */
  public static ClickCountOptions parseOptions(String... args) {
    PipelineOptionsFactory.register(ClickCountOptions.class);
    ClickCountOptions options = PipelineOptionsFactory.fromArgs(args).withValidation().as(ClickCountOptions.class);
    if (options.getRunner().getSimpleName().equals("DirectRunner")
        && Arrays.stream(args).noneMatch(a -> a.startsWith("--blockOnRun"))) {
      String[] nonBlocking = Arrays.copyOf(args, args.length + 1);
      nonBlocking[args.length] = "--blockOnRun=false";
      options = PipelineOptionsFactory.fromArgs(nonBlocking).withValidation().as(ClickCountOptions.class);
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
    Settings settings = Settings.from(options);
    LOG.info("starting with {}", settings);
    prepareSinks(settings);
    Long resumeFrom = settings.bounded() ? null : rewindForRestart(settings);
    Pipeline pipeline = Pipeline.create(options);
    build(pipeline, settings, resumeFrom);
    return pipeline.run();
  }

  /** A continuous run resuming a consumer group re-reads what it needs to rebuild the windows that were open. */
  static Long rewindForRestart(Settings s) {
    long horizon = s.windowSize().plus(s.allowedLateness()).plus(s.maxOutOfOrderness()).plus(RESTART_MARGIN)
        .getMillis();
    try {
      return KafkaSetup.rewindForRestart(s.bootstrapServers(), s.inputTopic(), s.consumerGroup(),
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
    ClickHouseHttp clickHouse = ClickHouseHttp.forSettings(s);
    try {
      if (s.createSchema()) {
        KafkaSetup.ensureTopics(s.bootstrapServers(), List.of(s.inputTopic(), s.outputTopic(), s.deadLetterTopic()));
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
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while preparing Kafka and ClickHouse", e);
    } catch (java.io.IOException | java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException("cannot prepare Kafka and ClickHouse: " + e.getMessage(), e);
    }
  }

  /**
   * The whole graph. {@code resumeFromMillis}: in a resumed continuous run, the first window start to count; the
   * windows before it were complete before the previous run stopped.
   */
  public static void build(Pipeline pipeline, Settings s, @Nullable Long resumeFromMillis) {
    Settings.Interval counted = s.bounded() ? s.interval()
        : resumeFromMillis == null ? null : new Settings.Interval(resumeFromMillis, Long.MAX_VALUE);
    TableSchema tableSchema = ClickHouseSchema.tableSchema();
    ClickHouseSchema.checkRowSchema(ClickHouseSchema.ROW_SCHEMA, tableSchema);

    PCollectionTuple parsed = pipeline
        .apply("ReadClicks", new ReadClicks(s))
        .apply("ParseClicks", new ParseClicks(s.windowSize().getMillis(), s.allowedLateness().getMillis(), counted));

    PCollection<WindowCount> counts = parsed.get(ParseClicks.CLICKS)
        .apply("WindowClicks", windowing(s.windowSize(), s.allowedLateness()))
        .apply("CountPerProduct", new CountClicksPerProduct());

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

    parsed.get(ParseClicks.DEAD_LETTERS)
        .apply("ToDeadLetterRecords", ParDo.of(new ToDeadLetterRecord(s.deadLetterTopic())))
        .setCoder(RECORD_CODER)
        .apply("WriteDeadLetters", kafkaWrite(s, s.deadLetterTopic(), "dead-letters"));
  }

  /**
   * How much longer than the allowed lateness Beam keeps a window open. Which clicks count is decided by ParseClicks,
   * by arrival; the watermark only says when a window's on-time pane fires. A click the arrival rule accepts can still
   * reach its window after the watermark passed the lateness: a producer that buffered it through a broker outage,
   * a reader that was behind. The grace keeps such a click from being dropped by Beam (seen in ServiceOutageIT).
   */
  static final Duration WATERMARK_GRACE = Duration.standardMinutes(5);

  /**
   * Event-time windows: one on-time pane when the watermark passes the window, then a late pane for every arrival
   * of late clicks, each with the accumulated count. Beam keeps a window for the allowed lateness plus {@link
   * #WATERMARK_GRACE}; ParseClicks has already removed the clicks that came later than the allowed lateness.
   */
  public static Window<Click> windowing(Duration windowSize, Duration allowedLateness) {
    return Window.<Click>into(FixedWindows.of(windowSize))
        .triggering(AfterWatermark.pastEndOfWindow().withLateFirings(AfterPane.elementCountAtLeast(1)))
        .withAllowedLateness(allowedLateness.plus(WATERMARK_GRACE), Window.ClosingBehavior.FIRE_IF_NON_EMPTY)
        .accumulatingFiredPanes();
  }

  private static final ProducerRecordCoder<byte[], byte[]> RECORD_CODER =
      ProducerRecordCoder.of(NullableCoder.of(ByteArrayCoder.of()), NullableCoder.of(ByteArrayCoder.of()));

  /**
   * An idempotent, acks=all producer; with {@code --kafkaExactlyOnce}, KafkaIO's exactly-once sink: one transactional
   * producer (shard) per sink, committing with the runner's checkpoints under the group {@code <consumerGroup>-<sink>}.
   */
  static KafkaIO.WriteRecords<byte[], byte[]> kafkaWrite(Settings s, String topic, String sink) {
    KafkaIO.WriteRecords<byte[], byte[]> write = KafkaIO.<byte[], byte[]>writeRecords()
        .withBootstrapServers(s.bootstrapServers())
        .withTopic(topic)
        .withKeySerializer(ByteArraySerializer.class)
        .withValueSerializer(ByteArraySerializer.class)
        .withProducerConfigUpdates(Map.of(
            ProducerConfig.ACKS_CONFIG, "all",
            ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
            ProducerConfig.LINGER_MS_CONFIG, 5));
    return s.kafkaExactlyOnce() ? write.withEOS(1, s.consumerGroup() + "-" + sink) : write;
  }

  /** Where the clicks come from: the topic's live tail, or a bounded run's fixed offset ranges. */
  static final class ReadClicks extends PTransform<PBegin, PCollection<KafkaRecord<byte[], byte[]>>> {
    private final Settings s;

    ReadClicks(Settings s) {
      this.s = s;
    }

    @Override
    public PCollection<KafkaRecord<byte[], byte[]>> expand(PBegin begin) {
      Settings.Interval interval = s.interval();
      if (interval == null) {
        Duration maxOutOfOrderness = s.maxOutOfOrderness();
        return begin.apply("ReadFromKafka", KafkaIO.<byte[], byte[]>read()
            .withBootstrapServers(s.bootstrapServers())
            .withTopic(s.inputTopic())
            .withKeyDeserializer(ByteArrayDeserializer.class)
            .withValueDeserializer(ByteArrayDeserializer.class)
            .withConsumerConfigUpdates(Map.of(
                ConsumerConfig.GROUP_ID_CONFIG, s.consumerGroup(),
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false))
            .withTimestampPolicyFactory((partition, previous) -> new ClickTimestampPolicy(maxOutOfOrderness, previous))
            .commitOffsetsInFinalize());
      }
      // Records that can matter to [from, to): clicks of the interval arrive at most MAX_FUTURE_SKEW before their
      // event time and, to count, no later than the last window's end plus the allowed lateness; rejections are
      // owned by the run whose interval holds their Kafka timestamp. maxOutOfOrderness more at the end tolerates
      // Kafka timestamps that are slightly out of order.
      long readFrom = interval.fromMillis() - ClickParser.MAX_FUTURE_SKEW_MILLIS;
      long readTo = interval.toMillis() + s.allowedLateness().getMillis() + 1 + s.maxOutOfOrderness().getMillis();
      List<KafkaSourceDescriptor> ranges = KafkaSetup.offsetRanges(s.bootstrapServers(), s.inputTopic(), readFrom,
          readTo);
      LOG.info("bounded run over {}: reading {} by offsets {}", interval, s.inputTopic(), ranges);
      return begin
          .apply("OffsetRanges", Create.of(ranges).withType(TypeDescriptor.of(KafkaSourceDescriptor.class)))
          .apply("ReadFromKafka", KafkaIO.<byte[], byte[]>readSourceDescriptors()
              .withBootstrapServers(s.bootstrapServers())
              .withKeyDeserializer(ByteArrayDeserializer.class)
              .withValueDeserializer(ByteArrayDeserializer.class)
              .withConsumerConfigUpdates(Map.of(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false))
              // Hold the watermark back until every range is read, so that every window fires once, complete;
              // ParseClicks stamps each click with its event time.
              .withExtractOutputTimestampFn(record -> BoundedWindow.TIMESTAMP_MIN_VALUE));
    }
  }

  static final class ToAggregateRecord extends DoFn<WindowCount, ProducerRecord<byte[], byte[]>> {
    private final String topic;
    private final Counter sent = Metrics.counter(ParseClicks.NAMESPACE, AGGREGATES_SENT);

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
    private final Counter written = Metrics.counter(ParseClicks.NAMESPACE, ROWS_WRITTEN);

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

  /** The one-line account of a finished run, from its metrics. */
  static String summary(PipelineResult result, Settings s, double seconds) {
    long read = counter(result, RECORDS_READ);
    return String.format(Locale.ROOT,
        "click-count %s: read %,d records, counted %,d clicks, dead-lettered %,d malformed and %,d too late,"
            + " skipped %,d outside the interval; wrote %,d rows to ClickHouse and %,d aggregates to Kafka"
            + " in %.1f s (%,.0f records/s)",
        s.bounded() ? "bounded run " + s.interval() : "continuous run", read,
        counter(result, ParseClicks.PARSED), counter(result, ParseClicks.MALFORMED),
        counter(result, ParseClicks.TOO_LATE), counter(result, ParseClicks.OUTSIDE_INTERVAL),
        counter(result, ROWS_WRITTEN), counter(result, AGGREGATES_SENT), seconds, read / Math.max(seconds, 1e-3));
  }

  static long counter(PipelineResult result, String name) {
    long total = 0;
    for (MetricResult<Long> c : result.metrics().queryMetrics(MetricsFilter.builder()
        .addNameFilter(MetricNameFilter.named(ParseClicks.NAMESPACE, name)).build()).getCounters()) {
      Long value = c.getAttempted();
      total += value == null ? 0 : value;
    }
    return total;
  }
}
