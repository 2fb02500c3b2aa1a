package dev.clickstream.pipeline.launch;

import dev.clickstream.pipeline.admin.KafkaSetup;
import dev.clickstream.pipeline.admin.SinkSetup;
import dev.clickstream.pipeline.config.ClickCountOptions;
import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.io.ClosableSource;
import dev.clickstream.pipeline.io.OffsetRange;
import dev.clickstream.pipeline.io.ReadClicks;
import dev.clickstream.pipeline.io.ReadProgress;
import dev.clickstream.pipeline.model.ClickParser;
import dev.clickstream.pipeline.model.Interval;
import java.util.List;
import org.apache.beam.runners.flink.FlinkPipelineOptions;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts one run: checks the settings, prepares the sinks, decides where the read starts (a continuous run rewinds
 * its consumer group to rebuild the windows a previous run had open; a bounded run reads its interval's offset
 * ranges), builds the graph and calls {@code Pipeline.run}. {@link Supervisor} runs it from {@code main}.
 */
public final class Launcher {
  private static final Logger LOG = LoggerFactory.getLogger(Launcher.class);

  private Launcher() {}

  /**
   * How long after a window's deadline (end + allowed lateness + watermark delay) its last pane may still be on its
   * way to the sinks when a run dies: a resumed run counts such windows again.
   */
  public static final Duration RESTART_MARGIN = Duration.standardSeconds(30);

  /**
   * A started pipeline, when {@code Pipeline.run} was called ({@code System.nanoTime}), a bounded run's offset
   * ranges read by record count (checked when it is done: {@link #checkRangesRead}; null otherwise), and the id its
   * readers are kept under on the DirectRunner ({@link ClosableSource}).
   */
  public record Started(@Nullable PipelineResult result, long runNanos,
      @Nullable List<OffsetRange> ranges, String runId, ReadProgress.@Nullable Reporter progress,
      @Nullable SettlePlan settle) {}

  /** Checks the settings, prepares Kafka and ClickHouse, plans the run, builds {@code graph} and runs it. */
  public static Started start(ClickCountOptions options, RunPlan.Graph graph) {
    Settings settings = Settings.from(options);
    LOG.info("starting with {}", settings);
    boolean flink = FlinkLaunch.isFlink(options);
    FlinkPipelineOptions flinkOptions = flink ? options.as(FlinkPipelineOptions.class) : null;
    if (flink) {
      FlinkLaunch.applyClusterDefaults(flinkOptions, settings.bounded());
    }
    if (flink && !settings.bounded()) {
      FlinkLaunch.refuseSecondJob(flinkOptions, options.getJobName());
    }
    if (flink && settings.settle() != null) {
      FlinkLaunch.cancelStaleJobs(flinkOptions, options.getJobName());
    }
    SinkSetup.prepare(settings);
    String runId = java.util.UUID.randomUUID().toString();
    SettlePlan settle = settings.settle() == null ? null : SettlePlan.plan(settings, System.currentTimeMillis());
    if (settle != null && settle.empty()) {
      LOG.info("nothing to count: every window up to {} is settled already",
          new org.joda.time.Instant(settle.settlement().settledFrom()));
      return new Started(null, System.nanoTime(), null, runId, null, settle);
    }
    // A Flink job restored from a savepoint restores its reader's offsets and its open windows: rewinding the group
    // too would count the rewound clicks a second time. A fresh continuous job rebuilds the windows the previous one
    // had open, on any runner.
    boolean restores = flink && flinkOptions.getSavepointPath() != null && !flinkOptions.getSavepointPath().isEmpty();
    if (restores && !settings.bounded() && !readsEveryPartition(settings, flinkOptions.getSavepointPath())) {
      flinkOptions.setSavepointPath(null);
      restores = false;
    }
    Long resumeFrom = settings.bounded() || restores ? null : rewindForRestart(settings);
    List<OffsetRange> ranges = settle != null ? pieces(settings, options, settle.ranges())
        : settings.bounded() ? boundedRanges(settings, options) : null;
    ReadClicks.BoundedRead read = ranges == null ? null : boundedRead(options, ranges);
    // The legacy reads, bounded by a record count, are checked for a short read when done; KafkaIO's splittable
    // reader reads each range to its exact end offset, gaps or not.
    List<OffsetRange> checked = read == ReadClicks.BoundedRead.LEGACY_PER_PIECE ? ranges : null;
    if (read == ReadClicks.BoundedRead.SPLITTABLE_HOLDING_WATERMARK) {
      ranges = KafkaSetup.wholeRanges(ranges); // the DirectRunner splits them as it reads
      LOG.info("reading {} by KafkaIO's splittable reader: more than the DirectRunner holds in memory", ranges);
      DirectRunnerLaunch.workersForSplittableRead(options, ranges.size());
    }
    boolean inThisJvm = RunnerOptions.readsInThisJvm(options);
    RunPlan plan = new RunPlan(resumeFrom, ranges, read, ranges != null && inThisJvm, flink ? null : runId,
        settle == null ? null : settle.settlement(), !flink);
    Pipeline pipeline = Pipeline.create(options);
    graph.build(pipeline, settings, plan);
    // Progress lines while a bounded run reads (started before Pipeline.run: Flink's [local] runs batch jobs attached).
    ReadProgress.Reporter progress = plan.reportProgress() ? ReadProgress.Reporter.start(ranges) : null;
    long runNanos = System.nanoTime();
    try {
      return new Started(pipeline.run(), runNanos, checked, runId, progress, settle);
    } catch (RuntimeException e) {
      if (progress != null) {
        progress.close();
      }
      throw e;
    }
  }

  /**
   * Whether a job restored from {@code savepoint} would read every partition of the input topic. KafkaIO's reader
   * keeps the partitions it started with in its checkpoints, so a partition added since is never read by a restored
   * job. When the consumer group (which that job committed to) has no offset for some partition, the savepoint is
   * not used: a fresh job reads every partition, and counts again, from the group's offsets, each window that was
   * open, and each window the new partitions' records belong to ({@link KafkaSetup#rewindForRestart}).
   */
  static boolean readsEveryPartition(Settings s, String savepoint) {
    List<Integer> unread = askGroup(s, "read",
        () -> KafkaSetup.partitionsNewToGroup(s.kafka(), s.inputTopic(), s.consumerGroup()));
    if (unread.isEmpty()) {
      return true;
    }
    LOG.warn("partitions {} of {} have no offset in group {}: the job of savepoint {} did not read them, and a job"
        + " restored from it would not either (KafkaIO keeps its partitions in its state). Starting a fresh job"
        + " instead, not restoring the savepoint: it reads every partition, and counts again each window that was open"
        + " or that the new partitions' records belong to", unread, s.inputTopic(), s.consumerGroup(), savepoint);
    return false;
  }

  /** A continuous run resuming a consumer group re-reads what it needs to rebuild the windows that were open. */
  public static Long rewindForRestart(Settings s) {
    long horizon = s.windowSize().plus(s.allowedLateness()).plus(s.maxOutOfOrderness()).plus(RESTART_MARGIN)
        .getMillis();
    return askGroup(s, "read or rewind", () -> KafkaSetup.rewindForRestart(s.kafka(), s.inputTopic(),
        s.consumerGroup(), s.windowSize().getMillis(), horizon));
  }

  /** A question to Kafka about the consumer group's offsets. */
  private interface GroupQuery<T> {
    T ask() throws InterruptedException, java.util.concurrent.ExecutionException;
  }

  /** Asks {@code query}; a failure says what could not be done ({@code doing}) to which group's offsets. */
  private static <T> T askGroup(Settings s, String doing, GroupQuery<T> query) {
    try {
      return query.ask();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reading the consumer group's offsets", e);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException("cannot " + doing + " the offsets of group " + s.consumerGroup() + ": "
          + e.getMessage(), e);
    }
  }

  /** Where a bounded run's ranges start: the Kafka timestamp of the interval's earliest possible click. */
  public static long readFromMillis(Settings s) {
    return s.countInterval().fromMillis() - ClickParser.MAX_FUTURE_SKEW_MILLIS;
  }

  /**
   * A bounded run's offset ranges: the records that can matter to [from, to). Clicks of the interval arrive at most
   * MAX_FUTURE_SKEW before their event time and, to count, no later than the last window's end plus the allowed
   * lateness; rejections are owned by the run whose interval holds their Kafka timestamp. maxOutOfOrderness more at
   * the end tolerates Kafka timestamps that are slightly out of order. Empty ranges are left out.
   */
  public static List<OffsetRange> boundedRanges(Settings s,
      org.apache.beam.sdk.options.PipelineOptions options) {
    Interval interval = s.countInterval();
    long readTo = interval.toMillis() + s.allowedLateness().getMillis() + 1 + s.maxOutOfOrderness().getMillis();
    List<OffsetRange> ranges = pieces(s, options,
        KafkaSetup.offsetRanges(s.kafka(), s.inputTopic(), readFromMillis(s), readTo));
    LOG.info("bounded run over {}: reading {} by offsets {}", interval, s.inputTopic(), ranges);
    return ranges;
  }

  /**
   * The fewest pieces per subtask of a bounded read on Flink. KafkaIO's read hands each piece to a subtask picked at
   * random (a random key, then a shuffle), so with fewer pieces a subtask is more often left without one: with eight
   * per subtask about once in 650 runs at parallelism 8, with four once in 9.
   */
  static final int PIECES_PER_SUBTASK = 8;

  /**
   * Whole ranges in the pieces this runner reads. On Flink, pieces of about equal length, at least
   * {@link #PIECES_PER_SUBTASK} per subtask, so that every subtask reads even with fewer partitions than subtasks: one
   * read takes them all, by their exact offsets, so they are cut by arithmetic alone. On the DirectRunner, no more than
   * it holds in memory at once, each starting where a Kafka timestamp starts, for the legacy reads.
   */
  static List<OffsetRange> pieces(Settings s, org.apache.beam.sdk.options.PipelineOptions options,
      List<OffsetRange> whole) {
    if (FlinkLaunch.isFlink(options)) {
      Integer parallelism = options.as(FlinkPipelineOptions.class).getParallelism();
      int workers = parallelism == null || parallelism < 1 ? Runtime.getRuntime().availableProcessors() : parallelism;
      return KafkaSetup.evenPieces(whole, PIECES_PER_SUBTASK * workers);
    }
    return KafkaSetup.pieces(s.kafka(), whole, DirectRunnerLaunch.MAX_PIECE, DirectRunnerLaunch.MAX_PIECE_BYTES);
  }

  /**
   * How a bounded run reads its pieces: on Flink, one bounded splittable read; on the DirectRunner, legacy reads while
   * they fit in memory, and the splittable reader beyond.
   */
  static ReadClicks.BoundedRead boundedRead(org.apache.beam.sdk.options.PipelineOptions options,
      List<OffsetRange> pieces) {
    if (FlinkLaunch.isFlink(options)) {
      return ReadClicks.BoundedRead.SPLITTABLE_BOUNDED;
    }
    return DirectRunnerLaunch.readsInMemory(pieces) ? ReadClicks.BoundedRead.LEGACY_PER_PIECE
        : ReadClicks.BoundedRead.SPLITTABLE_HOLDING_WATERMARK;
  }

  /**
   * Checks that a finished bounded run read every partition's whole range: all of its offsets, or a record past its
   * end (a range with gaps, from transaction markers or compaction, holds fewer records than offsets). A read given
   * up after {@link ReadClicks#maxReadTime} leaves neither, and the run fails, saying which partitions came short.
   */
  public static void checkRangesRead(PipelineResult result, List<OffsetRange> ranges) {
    List<String> cameShort = new java.util.ArrayList<>();
    for (OffsetRange r : ranges) {
      long inRange = Supervisor.counter(result, ReadClicks.inRange(r));
      long past = Supervisor.counter(result, ReadClicks.pastRange(r));
      if (inRange < r.stop() - r.start() && past == 0) {
        cameShort.add(r + ": read " + inRange + " of " + (r.stop() - r.start()) + " offsets");
      }
    }
    if (!cameShort.isEmpty()) {
      throw new IllegalStateException("the bounded run could not read its whole range within the read time limit ("
          + String.join("; ", cameShort) + "); a range with gaps (transaction markers, compacted records) needs a"
          + " record after it before it can be read to its end, or the broker could not be reached");
    }
  }

}
