package dev.clickstream.pipeline;

import dev.clickstream.pipeline.admin.ClickHouseSchema;
import dev.clickstream.pipeline.admin.KafkaSetup;
import dev.clickstream.pipeline.io.ClickHouseWrite;
import dev.clickstream.pipeline.io.KafkaWrites;
import dev.clickstream.pipeline.io.ReadClicks;
import dev.clickstream.pipeline.launch.DirectRunnerLaunch;
import dev.clickstream.pipeline.launch.FlinkLaunch;
import dev.clickstream.pipeline.launch.Launcher;
import dev.clickstream.pipeline.launch.Supervisor;
import dev.clickstream.pipeline.model.ClickRules;
import dev.clickstream.pipeline.model.DeadLetter;
import dev.clickstream.pipeline.model.Settlement;
import dev.clickstream.pipeline.model.WindowCount;
import dev.clickstream.pipeline.transforms.CountClicksPerProduct;
import dev.clickstream.pipeline.transforms.GatherPerWindow;
import dev.clickstream.pipeline.transforms.JudgeClicks;
import dev.clickstream.pipeline.transforms.SinkRecords;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.beam.runners.flink.FlinkPipelineOptions;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Duration;

/**
 * Counts product clicks per event-time window: Kafka {@code clicks} → {@code KafkaIO.read()} ({@link ReadClicks}) →
 * each record judged once, dead letters to {@code clicks_dlq} ({@link JudgeClicks}) → {@code FixedWindows} with
 * allowed lateness, an on-time pane and accumulating late panes → {@code Count.perKey} per product ({@link
 * CountClicksPerProduct}) → {@code KafkaIO} write to {@code aggregation_clicks} ({@link KafkaWrites}) and {@code
 * ClickHouseIO} write to {@code analytics.product_clicks} ({@link ClickHouseWrite}).
 *
 * <p>Continuous by default; with {@code --from}/{@code --to} a bounded run over the clicks already in the topic
 * whose event time lies in [from, to), which ends by itself. Options: {@link ClickCountOptions}. How a run is started,
 * restarted and stopped: {@link Supervisor}, {@link Launcher}.
 *
 * <p>The code's layout: {@code model} (a click, its rules, the records the sinks get), {@code transforms} (the
 * composite steps of the graph), {@code io} (KafkaIO and ClickHouseIO with their settings), {@code admin} (topics,
 * the table's DDL, schema checks), {@code launch} (starting a run on each runner; the DirectRunner's needs apart in
 * {@link DirectRunnerLaunch}).
 */
public final class ClickCountPipeline {
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
    if (Boolean.TRUE.equals(options.getExitWithParent())) {
      Supervisor.exitWithParent();
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
   * Parses and validates the options. On the DirectRunner, {@code run} would block until the pipeline ends, leaving
   * no handle to cancel a continuous run on SIGTERM: unless told otherwise it returns at once instead; and the
   * {@link DirectRunnerLaunch#productionFlags} apply unless given.
   */
  public static ClickCountOptions parseOptions(String... args) {
    PipelineOptionsFactory.register(ClickCountOptions.class);
    ClickCountOptions options = PipelineOptionsFactory.fromArgs(args).withValidation().as(ClickCountOptions.class);
    Map<String, String> defaults = new java.util.LinkedHashMap<>();
    if (options.getRunner().getSimpleName().equals("DirectRunner")) {
      for (String flag : DirectRunnerLaunch.productionFlags()) {
        defaults.put(flag.substring(0, flag.indexOf('=')), flag.substring(flag.indexOf('=') + 1));
      }
      defaults.put("--blockOnRun", "false");
    } else if (FlinkLaunch.isFlink(options)) {
      boolean bounded = options.getFrom() != null || options.getTo() != null;
      defaults.putAll(FlinkLaunch.productionFlags(options.as(FlinkPipelineOptions.class), bounded));
      if (!bounded) {
        defaults.put("--jobName", FlinkLaunch.continuousJobName(options.getConsumerGroup()));
      } else if (Boolean.TRUE.equals(options.getSettle())) {
        defaults.put("--jobName", FlinkLaunch.settleJobName(options.getInputTopic(), options.getClickHouseTable()));
      }
    }
    if (defaults.isEmpty()) {
      return options;
    }
    List<String> withDefaults = new java.util.ArrayList<>(Arrays.asList(args));
    defaults.forEach((name, value) -> {
      if (Arrays.stream(args).noneMatch(a -> a.equals(name) || a.startsWith(name + "="))) {
        withDefaults.add(name + "=" + value);
      }
    });
    return PipelineOptionsFactory.fromArgs(withDefaults.toArray(String[]::new)).withValidation()
        .as(ClickCountOptions.class);
  }

  /** Checks the settings, prepares Kafka and ClickHouse, builds the pipeline and starts it. */
  public static PipelineResult run(ClickCountOptions options) {
    return Launcher.start(options).result();
  }

  /** Whether the pipeline's readers run in the launcher's JVM: on the DirectRunner and Flink's {@code [local]}. */
  public static boolean readsInThisJvm(org.apache.beam.sdk.options.PipelineOptions options) {
    return !FlinkLaunch.isFlink(options)
        || FlinkLaunch.isLocal(options.as(org.apache.beam.runners.flink.FlinkPipelineOptions.class));
  }

  /**
   * The whole graph: KafkaIO read → judge each record (dead letters out) → event-time windows → {@code Count.perKey}
   * per product → KafkaIO and ClickHouseIO. {@code resumeFromMillis}: in a resumed continuous run, the first window
   * start to count; the windows before it were complete before the previous run stopped. A bounded run reads {@code
   * ranges} (see {@link Launcher#boundedRanges}). {@code runId}: see {@link ReadClicks#continuous}. {@code
   * settlement}: a settling run's decisions by offset ({@link Settlement}).
   */
  public static void build(Pipeline pipeline, Settings s, @Nullable Long resumeFromMillis,
      @Nullable List<KafkaSetup.OffsetRange> ranges, @Nullable String runId, @Nullable Settlement settlement) {
    Settings.Interval interval = s.bounded() ? s.interval()
        : resumeFromMillis == null ? null : new Settings.Interval(resumeFromMillis, Long.MAX_VALUE);
    Settings.Interval countedTimes = s.bounded() ? s.countInterval() : interval;
    ClickRules rules = settlement != null
        ? ClickRules.settling(s.windowSize().getMillis(), s.allowedLateness().getMillis(), settlement)
        : new ClickRules(s.windowSize().getMillis(), s.allowedLateness().getMillis(), countedTimes, interval);
    if (!s.bounded()) {
      rules = rules.closingByReadTime();
    }

    PCollection<KafkaRecord<byte[], byte[]>> records = s.bounded()
        ? pipeline.apply("ReadFromKafka", ReadClicks.bounded(s, ranges,
            DirectRunnerLaunch.readsInMemory(pipeline.getOptions(), ranges),
            readsInThisJvm(pipeline.getOptions())))
        : pipeline.apply("ReadFromKafka", ReadClicks.continuous(s, runId));
    Counted counted = count(records, rules, s.windowSize(),
        s.allowedLateness(), s.bounded(), !FlinkLaunch.isFlink(pipeline.getOptions()));
    PCollection<WindowCount> counts = counted.counts();

    counts
        .apply("ToAggregateRecords", ParDo.of(new SinkRecords.ToAggregateRecord(s.outputTopic())))
        .setCoder(KafkaWrites.RECORD_CODER)
        .apply("WriteToKafka", KafkaWrites.of(s, s.outputTopic(), "aggregates"));

    counts
        .apply("ToClickHouseRows", ParDo.of(new SinkRecords.ToRow()))
        .setRowSchema(ClickHouseSchema.ROW_SCHEMA)
        .apply("WriteToClickHouse", ClickHouseWrite.of(s));

    counted.deadLetters()
        .apply("ToDeadLetterRecords", ParDo.of(new SinkRecords.ToDeadLetterRecord(s.deadLetterTopic())))
        .setCoder(KafkaWrites.RECORD_CODER)
        .apply("WriteDeadLetters", KafkaWrites.of(s, s.deadLetterTopic(), "dead-letters"));
  }

  /** What the read records become: the counts for both sinks, and the dead letters. */
  public record Counted(PCollection<WindowCount> counts, PCollection<DeadLetter> deadLetters) {}

  /**
   * The graph between the read and the sinks: each record judged once ({@link JudgeClicks}), the clicks counted per
   * product and window ({@link CountClicksPerProduct}). {@code directRunnerBundles}: gather each pane's products
   * before the sinks ({@link GatherPerWindow}), for the DirectRunner.
   */
  public static Counted count(PCollection<KafkaRecord<byte[], byte[]>> records, ClickRules rules, Duration windowSize,
      Duration allowedLateness, boolean bounded, boolean directRunnerBundles) {
    PCollectionTuple judged = records.apply("JudgeClicks", new JudgeClicks(rules));
    PCollection<WindowCount> counts = judged.get(JudgeClicks.CLICKS)
        .apply("CountClicks", new CountClicksPerProduct(windowSize, allowedLateness, bounded));
    if (directRunnerBundles) {
      counts = counts.apply("GatherPerWindow", new GatherPerWindow());
    }
    return new Counted(counts, judged.get(JudgeClicks.DEAD_LETTERS));
  }
}
