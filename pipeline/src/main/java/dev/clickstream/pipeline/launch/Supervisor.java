package dev.clickstream.pipeline.launch;

import dev.clickstream.pipeline.admin.KafkaSetup;
import dev.clickstream.pipeline.admin.SettledMarks;
import dev.clickstream.pipeline.config.ClickCountOptions;
import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.config.StartupRefusedException;
import dev.clickstream.pipeline.io.ClosableSource;
import dev.clickstream.pipeline.model.Counters;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.beam.runners.flink.FlinkPipelineOptions;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.metrics.MetricNameFilter;
import org.apache.beam.sdk.metrics.MetricResult;
import org.apache.beam.sdk.metrics.MetricsFilter;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.admin.Admin;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the pipeline from {@code main}. A bounded run is run once: exit 0 when it is done, 1 when it failed (the
 * orchestrator retries it), 2 when it refused to start. On the DirectRunner, a continuous run that fails (ClickHouse
 * or Kafka gone, a write that gave up) is started again after a backoff of 1 s doubling to 30 s, and the restart
 * rewinds the consumer group to rebuild the windows the failed run had open ({@link Launcher#rewindForRestart}); only a
 * refusal to start (bad options, a table that does not fit) ends it. On the FlinkRunner, Flink restarts a failing
 * job from its last checkpoint by itself; the launcher waits for the job, and exits 1 only if Flink gave up on it.
 * SIGTERM cancels the run in progress (on Flink, with {@code --savepointOnStop}, stops it with a savepoint) and ends
 * it cleanly.
 */
public final class Supervisor {
  private static final Logger LOG = LoggerFactory.getLogger(Supervisor.class);

  private static final long MAX_BACKOFF_MILLIS = 30_000;
  /** How long an ended job's metrics may wait for Flink's REST cache ({@code web.refresh-interval}, 3 s) to let go. */
  private static final java.time.Duration ENDED_GRAPH_WAIT = java.time.Duration.ofSeconds(10);
  private final ClickCountOptions options;
  private final Settings settings;
  private final RunPlan.Graph graph;
  private final CountDownLatch finished = new CountDownLatch(1);
  private volatile boolean stopping;
  /** The run was stopped because the input topic has partitions it does not read: start a fresh one at once. */
  private volatile boolean replanning;
  private volatile PipelineResult current;

  /** Only the DirectRunner's runs are restarted here; a Flink job is restarted by Flink. */
  private final boolean restartsInProcess;

  public Supervisor(ClickCountOptions options, Settings settings, RunPlan.Graph graph) {
    this.options = options;
    this.settings = settings;
    this.graph = graph;
    this.restartsInProcess = !FlinkLaunch.isFlink(options);
  }

  public int runUntilDoneOrStopped() {
    try {
      long backoff = 1000;
      while (!stopping) {
        long start = System.nanoTime();
        Launcher.Started started = null;
        java.util.concurrent.ScheduledExecutorService partitionWatch = null;
        try {
          // Counted before the start, whose reader takes the partitions there are then: one added in between is seen.
          Integer partitions = settings.bounded() ? null : partitionCount(false);
          started = Launcher.start(options, graph);
          if (partitions == null && !settings.bounded()) {
            partitions = partitionCount(true); // the topic did not exist before the start created it
          }
          PipelineResult result = started.result();
          if (result == null) {
            System.out.println("click-count settling run: nothing to count, every window up to "
                + instant(started.settle().settlement().settledFrom()) + " is settled already");
            return 0;
          }
          current = result;
          JobClient flinkJob = FlinkLaunch.jobClient(result);
          if (flinkJob != null) {
            System.out.println("click-count: submitted Flink job " + flinkJob.getJobID() + " (" + options.getJobName()
                + ")" + (FlinkLaunch.isLocal(options.as(FlinkPipelineOptions.class)) ? ""
                : " to http://" + options.as(FlinkPipelineOptions.class).getFlinkMaster() + "/#/job/running"));
          }
          if (stopping) {
            stopQuietly(result);
          }
          partitionWatch = watchPartitions(result, partitions);
          PipelineResult.State state = result.waitUntilFinish();
          stopProgress(started);
          printSummary(started, start, System.nanoTime());
          if (replanning && !stopping) {
            startFreshOverEveryPartition();
            continue;
          }
          if (settings.bounded() || stopping) {
            LOG.info("stopped ({})", state);
            if (started.ranges() != null && state == PipelineResult.State.DONE && !stopping) {
              Launcher.checkRangesRead(result, started.ranges());
            }
            if (started.settle() != null && state == PipelineResult.State.DONE && !stopping) {
              settled(started.settle());
            }
            return state == PipelineResult.State.DONE || stopping ? 0 : 1;
          }
          if (!restartsInProcess) {
            // Flink has restarted the job as often as its restart strategy allows, or someone cancelled it.
            LOG.error("the Flink job ended ({})", state);
            return state == PipelineResult.State.CANCELLED ? 0 : 1;
          }
          LOG.warn("the continuous run ended by itself ({})", state);
        } catch (StartupRefusedException | IllegalArgumentException e) {
          System.err.println("click-count-pipeline: " + e.getMessage());
          return 2;
        } catch (RuntimeException e) {
          if (replanning && !stopping) {
            LOG.info("the run stopped for the new partitions ended with {}", rootMessage(e));
            startFreshOverEveryPartition();
            continue;
          }
          if (stopping) {
            // Stopped while waiting: on [local] the embedded cluster's own shutdown hook can end the job first.
            if (started != null) {
              try {
                printSummary(started, start, System.nanoTime());
              } catch (RuntimeException metricsGone) {
                System.out.println("click-count " + (settings.bounded() ? "bounded" : "continuous")
                    + " run stopped; its counts went with the job (" + metricsGone + ")");
              }
            }
            return 0;
          }
          String failure = rootMessage(e);
          LOG.error("the pipeline failed: {}", failure);
          String advice = advice(failure);
          if (advice != null) {
            LOG.error(advice);
          }
          LOG.debug("the pipeline failed", e);
          if (settings.bounded() || !restartsInProcess) {
            return 1;
          }
        } finally {
          if (partitionWatch != null) {
            partitionWatch.shutdownNow();
          }
          if (started != null) {
            stopProgress(started);
            if (!terminal(started.result())) {
              cancelQuietly(started.result());
            }
            int closed = ClosableSource.closeReadersOf(started.runId());
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

  /**
   * SIGTERM: cancel the run in progress (or stop the Flink job with a savepoint) and wait for the summary, up to
   * 30 s (a savepoint: up to 5 minutes).
   */
  public void stop() {
    stopping = true;
    try {
      PipelineResult result = current;
      if (result != null) {
        stopQuietly(result);
      }
      finished.await(savepointOnStop() != null ? 300 : 30, TimeUnit.SECONDS);
    } catch (Exception e) {
      LOG.warn("could not stop cleanly: {}", e.toString());
    }
  }

  /**
   * The input topic's partitions now, for {@link #watchPartitions}; null when they are not watched, or when Kafka does
   * not say ({@code report}: with a warning that this run does not watch them).
   */
  private @Nullable Integer partitionCount(boolean report) {
    if (settings.partitionCheckInterval().getMillis() == 0) {
      return null;
    }
    try (Admin admin = Admin.create(settings.kafka().admin())) {
      return KafkaSetup.partitionCount(admin, settings.inputTopic());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    } catch (java.util.concurrent.ExecutionException | RuntimeException e) {
      if (report) {
        LOG.warn("cannot count the partitions of {} ({}): this run does not watch them", settings.inputTopic(),
            rootMessage(e));
      }
      return null;
    }
  }

  /**
   * Counts the input topic's partitions every {@code --partitionCheckInterval} while a continuous run runs. KafkaIO's
   * reader keeps the partitions it started with, also in its checkpoints: when the topic has more than the {@code
   * atStart} the run started with, the run is stopped ({@link #stopQuietly}), and the loop starts a fresh one, which
   * reads them all ({@link #startFreshOverEveryPartition}).
   */
  private java.util.concurrent.@Nullable ScheduledExecutorService watchPartitions(PipelineResult result,
      @Nullable Integer atStart) {
    if (atStart == null) {
      return null;
    }
    long every = settings.partitionCheckInterval().getMillis();
    var timer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "click-count-partition-watch");
      t.setDaemon(true);
      return t;
    });
    timer.scheduleWithFixedDelay(() -> {
      if (stopping || replanning) {
        return;
      }
      try (Admin admin = Admin.create(settings.kafka().admin())) {
        int now = KafkaSetup.partitionCount(admin, settings.inputTopic());
        if (now > atStart && !stopping) {
          LOG.warn("{} has {} partitions, {} when this run started: KafkaIO's reader keeps the partitions it started"
              + " with, so the run is stopped and a fresh one started, which reads them all and counts again the"
              + " windows that were open", settings.inputTopic(), now, atStart);
          replanning = true;
          stopQuietly(result);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (Exception e) {
        LOG.warn("cannot count the partitions of {} ({}); trying again in {} s", settings.inputTopic(),
            rootMessage(e), every / 1000.0);
      }
    }, every, every, TimeUnit.MILLISECONDS);
    return timer;
  }

  /**
   * After a run was stopped for new partitions: the next one starts fresh, not from the savepoint it may have been
   * started from (a restored reader would keep the old partitions), and resumes the consumer group.
   */
  private void startFreshOverEveryPartition() {
    replanning = false;
    if (FlinkLaunch.isFlink(options)) {
      options.as(FlinkPipelineOptions.class).setSavepointPath(null);
    }
    LOG.info("starting a fresh run over every partition of {}", settings.inputTopic());
  }

  /** A settling run is done: its windows are final now, and the mark says so. */
  private void settled(SettlePlan plan) {
    var settlement = plan.settlement();
    if (plan.mark() != null) {
      SettledMarks.write(settings, plan.mark());
    }
    System.out.println("click-count settled mark: " + instant(settlement.settledTo())
        + (plan.mark() == null ? " (unchanged: no window was ripe)"
            : " (settled [" + instant(settlement.settledFrom()) + ", " + instant(settlement.settledTo()) + "))")
        + (settlement.countTo() > settlement.settledTo() ? "; counted early up to " + instant(settlement.countTo()) : "")
        + (plan.behindTo() > settlement.settledTo() ? "; BEHIND: [" + instant(settlement.settledTo()) + ", "
            + instant(plan.behindTo()) + ") is ripe and left to the next runs" : ""));
  }

  private static java.time.Instant instant(long millis) {
    return java.time.Instant.ofEpochMilli(millis);
  }

  /**
   * {@code --exitWithParent}: watches the process that started this one and, when it ends, exits as on SIGTERM (the
   * shutdown hook cancels the run). An orchestrator's task that dies then leaves no run behind to race its retry.
   */
  public static void exitWithParent() {
    java.util.Optional<ProcessHandle> parent = ProcessHandle.current().parent();
    if (parent.isEmpty()) {
      return;
    }
    ProcessHandle watched = parent.get();
    Thread watcher = new Thread(() -> {
      while (watched.isAlive()) {
        try {
          Thread.sleep(1000);
        } catch (InterruptedException e) {
          return;
        }
      }
      LOG.warn("the process that started this run ({}) has ended: stopping", watched.pid());
      System.exit(143);
    }, "click-count-parent-watch");
    watcher.setDaemon(true);
    watcher.start();
  }

  /**
   * Where a continuous Flink job's savepoint goes when it is stopped: {@code --savepointOnStop}, else, on a session
   * cluster, the cluster's {@code state.savepoints.dir} ({@link FlinkLaunch#CLUSTER_SAVEPOINT_DIR}), so that stopping
   * a job never throws its open windows away; {@code none}, or {@code [local]} without the option: cancel.
   */
  private @Nullable String savepointOnStop() {
    return FlinkLaunch.savepointOnStop(options.as(FlinkPipelineOptions.class), options.getSavepointOnStop());
  }

  private void stopQuietly(PipelineResult result) {
    JobClient flinkJob = FlinkLaunch.jobClient(result);
    String directory = savepointOnStop();
    if (flinkJob != null && directory != null && !settings.bounded()) {
      LOG.info("stopping: Flink job {} with a savepoint in {}", flinkJob.getJobID(), directory);
      try {
        String savepoint = FlinkLaunch.stopWithSavepoint(flinkJob, directory);
        System.out.println("click-count: stopped Flink job " + flinkJob.getJobID() + " with savepoint " + savepoint
            + "; resume with --savepointPath=" + savepoint);
        return;
      } catch (Exception e) {
        LOG.error("could not stop Flink job {} with a savepoint ({}): cancelling it", flinkJob.getJobID(),
            rootMessage(e));
      }
    }
    LOG.info("stopping: cancelling the pipeline");
    cancelQuietly(result);
  }

  private static void stopProgress(Launcher.Started started) {
    if (started.progress() != null) {
      started.progress().close();
    }
  }

  private static boolean terminal(PipelineResult result) {
    try {
      return result.getState().isTerminal();
    } catch (RuntimeException e) {
      return true; // Beam's embedded Flink cluster is gone with its job
    }
  }

  private static void cancelQuietly(PipelineResult result) {
    try {
      result.cancel();
    } catch (java.io.IOException | RuntimeException e) {
      LOG.warn("could not cancel the pipeline: {}", e.toString());
    }
  }

  /**
   * Prints the ended run's {@link #summary}, once a session cluster's REST API shows its job ended (its metrics are the
   * final ones only then, {@link FlinkLaunch#awaitEndedJobGraph}); {@code start} and {@code end} in nanoseconds.
   */
  private void printSummary(Launcher.Started started, long start, long end) {
    FlinkLaunch.awaitEndedJobGraph(started.result(), options.as(FlinkPipelineOptions.class), ENDED_GRAPH_WAIT);
    System.out.println(summary(started.result(), settings, started.settle(), (end - start) / 1e9,
        (end - started.runNanos()) / 1e9));
  }

  /** What to do about a failure the launcher recognises by its message, or null. */
  static @Nullable String advice(String failure) {
    if (failure.contains("Cannot map checkpoint/savepoint state")) {
      return "the savepoint holds state this job's graph has no place for: it was taken by a job with another"
          + " --hotKeyFanout, or by an earlier version. Resume it with the options it was taken with, or start without"
          + " --savepointPath: the consumer group's committed offsets and the launcher's rewind rebuild the open"
          + " windows";
    }
    return null;
  }

  private static String rootMessage(Throwable e) {
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return e.getMessage() + (root != e ? " (" + root + ")" : "");
  }

  /**
   * The one-line account of a finished run, from its metrics: its time from the start of the checks, and the part of
   * it from {@code Pipeline.run} on (the "net job time" of a job, without the checks of Kafka and ClickHouse and the
   * building of the graph).
   */
  public static String summary(PipelineResult result, Settings s, @Nullable SettlePlan settle, double seconds,
      double runSeconds) {
    long read = counter(result, Counters.RECORDS_READ);
    String run = settle != null
        ? "settling run [" + instant(settle.settlement().settledFrom()) + ", " + instant(settle.settlement().settledTo())
            + ")" + (settle.settlement().countTo() > settle.settlement().settledTo()
                ? " (and early [" + instant(settle.settlement().settledTo()) + ", "
                    + instant(settle.settlement().countTo()) + "))" : "")
        : s.bounded() ? "bounded run " + s.interval() + (s.early() == null ? "" : " (and early " + s.early() + ")")
        : "continuous run";
    return String.format(Locale.ROOT,
        "click-count %s: read %,d records, counted %,d clicks, dead-lettered %,d malformed, %,d too late and %,d"
            + " window closed, skipped %,d outside the interval; wrote %,d rows to ClickHouse and %,d aggregates to Kafka"
            + " in %.1f s (%,.0f records/s), of which %.1f s running the pipeline (%,.0f records/s)",
        run, read,
        counter(result, Counters.COUNTED), counter(result, Counters.MALFORMED),
        counter(result, Counters.TOO_LATE), counter(result, Counters.WINDOW_CLOSED),
        counter(result, Counters.OUTSIDE_INTERVAL),
        counter(result, Counters.ROWS_WRITTEN), counter(result, Counters.AGGREGATES_SENT), seconds,
        read / Math.max(seconds, 1e-3),
        runSeconds, read / Math.max(runSeconds, 1e-3));
  }

  public static long counter(PipelineResult result, String name) {
    long total = 0;
    for (MetricResult<Long> c : result.metrics().queryMetrics(MetricsFilter.builder()
        .addNameFilter(MetricNameFilter.named(Counters.NAMESPACE, name)).build()).getCounters()) {
      Long value = c.getAttempted();
      total += value == null ? 0 : value;
    }
    return total;
  }
}
