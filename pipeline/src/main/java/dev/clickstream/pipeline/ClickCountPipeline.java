package dev.clickstream.pipeline;

import dev.clickstream.pipeline.config.ClickCountOptions;
import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.io.ClickHouseSchema;
import dev.clickstream.pipeline.io.ClickHouseWrite;
import dev.clickstream.pipeline.io.KafkaWrites;
import dev.clickstream.pipeline.io.ReadClicks;
import dev.clickstream.pipeline.launch.Launcher;
import dev.clickstream.pipeline.launch.RunPlan;
import dev.clickstream.pipeline.launch.RunnerOptions;
import dev.clickstream.pipeline.launch.Supervisor;
import dev.clickstream.pipeline.model.ClickRules;
import dev.clickstream.pipeline.model.DeadLetter;
import dev.clickstream.pipeline.model.Interval;
import dev.clickstream.pipeline.model.WindowCount;
import dev.clickstream.pipeline.transforms.CountClicksPerProduct;
import dev.clickstream.pipeline.transforms.GatherPerWindow;
import dev.clickstream.pipeline.transforms.JudgeClicks;
import dev.clickstream.pipeline.transforms.SinkRecords;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
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
 * <p>The packages, each naming only those after it: {@code launch} (options per runner, planning and starting a run,
 * restarts), {@code admin} (topics, the table, the settled marks), {@code transforms} (the composite steps of the
 * graph), {@code io} (KafkaIO and ClickHouseIO with their settings), {@code config} (the options, checked), {@code
 * model} (a click, its rules, the records the sinks get).
 */
public final class ClickCountPipeline {
  private ClickCountPipeline() {}

  public static void main(String[] args) {
    ClickCountOptions options;
    Settings settings;
    try {
      options = RunnerOptions.parse(args);
      settings = Settings.from(options);
    } catch (IllegalArgumentException e) {
      System.err.println("click-count-pipeline: " + e.getMessage());
      System.exit(2);
      return;
    }
    if (Boolean.TRUE.equals(options.getExitWithParent())) {
      Supervisor.exitWithParent();
    }
    Supervisor supervisor = new Supervisor(options, settings, ClickCountPipeline::build);
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

  /** Checks the settings, prepares Kafka and ClickHouse, builds the pipeline and starts it (once, no restarts). */
  public static PipelineResult run(ClickCountOptions options) {
    return Launcher.start(options, ClickCountPipeline::build).result();
  }

  /**
   * The whole graph: KafkaIO read → judge each record (dead letters out) → event-time windows → {@code Count.perKey}
   * per product → KafkaIO and ClickHouseIO. What differs between runs and runners comes in {@code plan}.
   */
  public static void build(Pipeline pipeline, Settings s, RunPlan plan) {
    PCollection<KafkaRecord<byte[], byte[]>> records = pipeline.apply("ReadFromKafka", s.bounded()
        ? ReadClicks.bounded(s, plan.ranges(), plan.boundedRead(), plan.reportProgress())
        : ReadClicks.continuous(s, plan.closableReadersId()));

    Counted counted = count(records, rules(s, plan), s.windowSize(), s.allowedLateness(), s.lateFiringDelay(),
        s.hotKeyFanout(), s.bounded(), plan.gatherPanes());

    counted.counts()
        .apply("ToAggregateRecords", ParDo.of(new SinkRecords.ToAggregateRecord(s.outputTopic())))
        .setCoder(KafkaWrites.RECORD_CODER)
        .apply("WriteToKafka", KafkaWrites.of(s.kafka(), s.outputTopic()));

    counted.counts()
        .apply("ToClickHouseRows", ParDo.of(new SinkRecords.ToRow()))
        .setRowSchema(ClickHouseSchema.ROW_SCHEMA)
        .apply("WriteToClickHouse", ClickHouseWrite.of(s));

    counted.deadLetters()
        .apply("ToDeadLetterRecords", ParDo.of(new SinkRecords.ToDeadLetterRecord(s.deadLetterTopic())))
        .setCoder(KafkaWrites.RECORD_CODER)
        .apply("WriteDeadLetters", KafkaWrites.of(s.kafka(), s.deadLetterTopic()));
  }

  /**
   * Which clicks a run counts and which it dead-letters. A bounded run counts its interval (and the early part after
   * it) and owns the rejections of its interval; a resumed continuous run counts from the first window it resumes;
   * a settling run follows its settlement. A continuous run also closes a window by read time ({@link
   * ClickRules#closingByReadTime}).
   */
  static ClickRules rules(Settings s, RunPlan plan) {
    long size = s.windowSize().getMillis();
    long lateness = s.allowedLateness().getMillis();
    if (plan.settlement() != null) {
      return ClickRules.settling(size, lateness, plan.settlement());
    }
    if (s.bounded()) {
      return new ClickRules(size, lateness, s.countInterval(), s.interval());
    }
    Interval resumed = plan.resumeFromMillis() == null ? null : new Interval(plan.resumeFromMillis(), Long.MAX_VALUE);
    return new ClickRules(size, lateness, resumed, resumed).closingByReadTime();
  }

  /** What the read records become: the counts for both sinks, and the dead letters. */
  public record Counted(PCollection<WindowCount> counts, PCollection<DeadLetter> deadLetters) {}

  /**
   * The graph between the read and the sinks: each record judged once ({@link JudgeClicks}), the clicks counted per
   * product and window ({@link CountClicksPerProduct}). {@code gatherPanes}: gather each pane's products before the
   * sinks ({@link GatherPerWindow}).
   */
  public static Counted count(PCollection<KafkaRecord<byte[], byte[]>> records, ClickRules rules, Duration windowSize,
      Duration allowedLateness, Duration lateFiringDelay, int hotKeyFanout, boolean bounded, boolean gatherPanes) {
    PCollectionTuple judged = records.apply("JudgeClicks", new JudgeClicks(rules));
    PCollection<WindowCount> counts = judged.get(JudgeClicks.CLICKS)
        .apply("CountClicks",
            new CountClicksPerProduct(windowSize, allowedLateness, lateFiringDelay, hotKeyFanout, bounded));
    if (gatherPanes) {
      counts = counts.apply("GatherPerWindow", new GatherPerWindow());
    }
    return new Counted(counts, judged.get(JudgeClicks.DEAD_LETTERS));
  }
}
