package dev.clickstream.pipeline.launch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clickstream.pipeline.config.StartupRefusedException;
import java.io.IOException;
import java.lang.reflect.Field;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.beam.runners.flink.FlinkDetachedRunnerResult;
import org.apache.beam.runners.flink.FlinkPipelineOptions;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.util.TimeUtils;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * What launching on the FlinkRunner needs beyond Beam's defaults, kept apart from the graph. On Flink, failures are
 * Flink's business: its restart strategy restarts the job from its last checkpoint, so the launcher never restarts a
 * Flink job itself and never rewinds the consumer group under a job that restores its own offsets.
 *
 * <ul>
 *   <li>A continuous job, and a bounded one on a session cluster, is submitted detached: {@code Pipeline.run} returns
 *       a handle that can cancel the job, or stop it with a savepoint, when the launcher gets SIGTERM. (Beam's
 *       embedded {@code [local]} cluster runs batch jobs attached only; those end with the launcher's JVM.)</li>
 *   <li>Like {@code flink run}, which reads the cluster's configuration, a job gets the session cluster's
 *       {@code parallelism.default} and {@code execution.checkpointing.interval} unless the command line sets them:
 *       Beam's client-side defaults would be parallelism 1 and no checkpoints at all, so no offsets committed.</li>
 *   <li>A continuous job is named after its consumer group, and a second one for the same group on the same cluster
 *       is refused: two jobs would count every click twice and fight over the group's offsets.</li>
 * </ul>
 */
public final class FlinkLaunch {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(FlinkLaunch.class);

  /**
   * A continuous job's max parallelism: the number of key groups its state is split into, fixed for the life of its
   * savepoints. Pinned so that a job stopped with a savepoint can resume at another parallelism (up to this); 128 is
   * what Flink picks by itself for parallelism up to 85, so savepoints of jobs started before it was pinned restore.
   */
  static final String MAX_PARALLELISM = "128";

  /** A continuous job's checkpoint interval where nothing else sets one ({@code [local]}): docker-compose.yml's. */
  static final String DEFAULT_CHECKPOINT_INTERVAL_MILLIS = "10000";

  private static final Set<String> LIVE_JOB_STATES = Set.of("CREATED", "INITIALIZING", "RUNNING", "RESTARTING",
      "FAILING", "CANCELLING", "RECONCILING", "SUSPENDED");

  private FlinkLaunch() {}

  public static boolean isFlink(PipelineOptions options) {
    return options.getRunner().getSimpleName().equals("FlinkRunner");
  }

  public static boolean isLocal(FlinkPipelineOptions flink) {
    String master = flink.getFlinkMaster();
    return master == null || master.isEmpty() || master.equals("[local]") || master.equals("[auto]")
        || master.equals("[collection]");
  }

  /**
   * The Flink flags a launch adds unless the command line has them; none needs the cluster (see
   * {@link #applyClusterDefaults} for those that do).
   *
   * <ul>
   *   <li>{@code fasterCopy} (bounded only): Flink hands each element to the next operator without a defensive copy,
   *       safe because no step changes an element it has output. Not for continuous jobs: the flag also turns off the
   *       copy the heap state backend makes of a state value while a checkpoint is written, and {@code Sum}'s
   *       accumulator is updated in place, so a checkpoint could hold counts from after its barrier and a job restored
   *       from it would count those clicks twice (FlinkRecoveryIT and ServiceOutageIT catch it).
   *   <li>{@code objectReuse} (bounded only): Flink's batch operators (the sorts around the shuffle) reuse their
   *       record objects; safe because Beam's coders make a new object for every element and no step keeps one.
   *   <li>{@code parallelism} on {@code [local]}: one subtask per core (Flink's own default there is 1).
   *   <li>{@code filesToStage} (a session cluster): the job jar ({@link #jobJar}), if it lies beside the launcher's.
   *   <li>{@code jobCheckIntervalInSecs}: how often a detached job's state is polled; the runner's 5 s would add up to
   *       5 s to every bounded run.
   *   <li>{@code maxBundleTimeMills} (continuous only): a bundle ends after 1,000 elements or 100 ms instead of 1 s.
   *       ClickHouseIO inserts and KafkaIO flushes when a bundle ends, and a window's panes come in a burst that
   *       rarely fills 1,000, so they would wait for the time (latencies measured: docs/flink.md).
   *   <li>{@code checkpointingInterval} (continuous, {@code [local]}): {@link #DEFAULT_CHECKPOINT_INTERVAL_MILLIS};
   *       KafkaIO commits the group's offsets when a checkpoint completes, so no checkpoints would mean no commits.
   *   <li>{@code maxParallelism} (continuous): {@link #MAX_PARALLELISM}.
   *   <li>{@code stateBackend} and {@code stateBackendStoragePath} (continuous, {@code [local]}): checkpoints written
   *       to files under {@link #localCheckpointDir}. Flink's default there keeps them in the JobManager's memory, at
   *       most 5 MB per subtask's state: the hot-key fan-out's partial counts (16 shards per product, every window
   *       of the allowed lateness) passed that at 20,000 clicks/s, every checkpoint failed and the job restarted
   *       from its last good one, again and again. A session cluster's own configuration says where its checkpoints
   *       go.
   * </ul>
   */
  public static Map<String, String> productionFlags(FlinkPipelineOptions flink, boolean bounded) {
    Map<String, String> flags = new java.util.LinkedHashMap<>();
    if (bounded) {
      flags.put("--fasterCopy", "true");
      flags.put("--objectReuse", "true");
    }
    flags.put("--jobCheckIntervalInSecs", "1");
    boolean local = isLocal(flink);
    flags.put("--attachedMode", bounded && local ? "true" : "false");
    if (!local) {
      String jobJar = jobJar();
      if (jobJar != null) {
        flags.put("--filesToStage", jobJar);
      }
    }
    if (local) {
      flags.put("--parallelism", Integer.toString(Runtime.getRuntime().availableProcessors()));
    }
    if (!bounded) {
      flags.put("--maxBundleTimeMills", "100");
      flags.put("--maxParallelism", MAX_PARALLELISM);
      if (local) {
        flags.put("--checkpointingInterval", DEFAULT_CHECKPOINT_INTERVAL_MILLIS);
        flags.put("--stateBackend", "filesystem");
        flags.put("--stateBackendStoragePath", localCheckpointDir());
      }
    }
    return flags;
  }

  /**
   * Where continuous jobs on {@code [local]} write their checkpoints: a directory under {@code java.io.tmpdir}, one
   * folder per job id inside it. Flink deletes each checkpoint when a newer one completes; the last one may stay when
   * the embedded cluster stops with the launcher (12 MB after a minute at 20,000 clicks/s); nothing reads it again.
   */
  static String localCheckpointDir() {
    return "file://" + java.nio.file.Path.of(System.getProperty("java.io.tmpdir"), "click-count-checkpoints")
        .toAbsolutePath();
  }

  /**
   * A job on a session cluster gets the cluster's {@code parallelism.default} and (continuous)
   * {@code execution.checkpointing.interval}, as {@code flink run} would, where the options do not set them; a
   * continuous job on a cluster that sets no interval gets {@link #DEFAULT_CHECKPOINT_INTERVAL_MILLIS}. Called when
   * the run starts, not while the options are parsed: it asks the cluster's REST API.
   */
  static void applyClusterDefaults(FlinkPipelineOptions flink, boolean bounded) {
    if (isLocal(flink)) {
      return;
    }
    boolean parallelismSet = flink.getParallelism() != null && flink.getParallelism() > 0;
    boolean intervalSet = bounded || (flink.getCheckpointingInterval() != null && flink.getCheckpointingInterval() > 0);
    if (parallelismSet && intervalSet) {
      return;
    }
    Map<String, String> cluster = clusterConfig(flink.getFlinkMaster());
    String parallelism = cluster.get("parallelism.default");
    if (!parallelismSet && parallelism != null) {
      flink.setParallelism(Integer.parseInt(parallelism.trim()));
    }
    if (!intervalSet) {
      String interval = cluster.get("execution.checkpointing.interval");
      flink.setCheckpointingInterval(interval == null ? Long.parseLong(DEFAULT_CHECKPOINT_INTERVAL_MILLIS)
          : TimeUtils.parseDuration(interval).toMillis());
    }
  }

  /**
   * The job jar beside the bundled jar this launcher runs from ({@code click-pipeline-job-<version>.jar} beside
   * {@code click-pipeline-bundled-<version>.jar}, {@code X-job.jar} beside {@code X.jar}: the same classes without
   * Flink's, which the cluster has), or null when there is none (a launch from Maven's classes). A session cluster
   * gets it with every job instead of the bundled jar: less than half the bytes.
   */
  static @Nullable String jobJar() {
    try {
      java.security.CodeSource source = FlinkLaunch.class.getProtectionDomain().getCodeSource();
      if (source == null) {
        return null;
      }
      java.nio.file.Path running = java.nio.file.Path.of(source.getLocation().toURI());
      String name = running.getFileName().toString();
      if (!name.endsWith(".jar")) {
        return null;
      }
      java.nio.file.Path job = running.resolveSibling(name.contains("-bundled")
          ? name.replace("-bundled", "-job") : name.substring(0, name.length() - 4) + "-job.jar");
      return java.nio.file.Files.isRegularFile(job) ? job.toString() : null;
    } catch (java.net.URISyntaxException | RuntimeException e) {
      return null;
    }
  }

  /** The continuous job's name on the cluster: one per consumer group. */
  public static String continuousJobName(String consumerGroup) {
    return "click-count-" + consumerGroup;
  }

  /** A settling run's job name on the cluster: one per input topic and table. */
  public static String settleJobName(String inputTopic, String table) {
    return "click-settle-" + inputTopic + "-" + table;
  }

  /**
   * Cancels the live jobs named {@code jobName} on the session cluster and waits (up to a minute) until they have
   * ended. A settling run's job outlives a launcher that was killed (an orchestrator's task that died); the retry must
   * not settle the same windows beside it, writing dead letters twice.
   */
  static void cancelStaleJobs(FlinkPipelineOptions flink, String jobName) {
    if (isLocal(flink)) {
      return;
    }
    List<String> stale = new java.util.ArrayList<>();
    for (JsonNode job : get(flink.getFlinkMaster(), "/jobs/overview").path("jobs")) {
      if (job.path("name").asText().equals(jobName) && LIVE_JOB_STATES.contains(job.path("state").asText())) {
        stale.add(job.path("jid").asText());
      }
    }
    for (String id : stale) {
      LOG.warn("Flink job {} ({}) from an earlier attempt still runs: cancelling it first", id, jobName);
      send(flink.getFlinkMaster(), "PATCH", "/jobs/" + id + "?mode=cancel");
    }
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
    for (String id : stale) {
      while (LIVE_JOB_STATES.contains(get(flink.getFlinkMaster(), "/jobs/" + id).path("state").asText())) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("Flink job " + id + " (" + jobName + ") did not end within a minute of"
              + " being cancelled");
        }
        try {
          Thread.sleep(500);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while waiting for Flink job " + id + " to end", e);
        }
      }
    }
  }

  /**
   * Refuses to submit a continuous job when the session cluster already runs one for the same consumer group.
   * Nothing to check on {@code [local]}, whose cluster lives and dies with this launcher.
   */
  static void refuseSecondJob(FlinkPipelineOptions flink, String jobName) {
    if (isLocal(flink)) {
      return;
    }
    JsonNode jobs = get(flink.getFlinkMaster(), "/jobs/overview").path("jobs");
    for (JsonNode job : jobs) {
      if (job.path("name").asText().equals(jobName) && LIVE_JOB_STATES.contains(job.path("state").asText())) {
        throw new StartupRefusedException("Flink at " + flink.getFlinkMaster() + " already runs job "
            + job.path("jid").asText() + " (" + jobName + ", " + job.path("state").asText() + ") for this consumer"
            + " group: stop it first (cancel, or stop with a savepoint and resume from it with --savepointPath)");
      }
    }
  }

  /** The Flink job behind a detached result, for its id and for stopping it with a savepoint. */
  static @Nullable JobClient jobClient(PipelineResult result) {
    if (!(result instanceof FlinkDetachedRunnerResult)) {
      return null;
    }
    try {
      // The runner keeps it private and offers only cancel() and drain(); drain() would fire every open window
      // early (it advances the watermark to the end of time), which a job that is to be resumed must not do.
      Field field = FlinkDetachedRunnerResult.class.getDeclaredField("jobClient");
      field.setAccessible(true);
      return (JobClient) field.get(result);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }

  /**
   * Waits until the session cluster's REST API shows the ended job {@code jobId} as ended, at most {@code max}, so that
   * the job's metrics read next are its final ones. Its handlers answer from an execution graph cached for
   * {@code web.refresh-interval} (3 s): a request made while the job ran (the web UI polls every few seconds) leaves a
   * running job's graph there, whose accumulators hold nothing yet (the runner fills them as the job's operators close),
   * and the launcher's summary and its check of a bounded run's ranges would read zeros from it. The job's own page
   * comes from the same cache, so once it says the job ended, the accumulators are the ended job's. No-op unless the
   * result is a detached job on a session cluster.
   */
  static void awaitEndedJobGraph(PipelineResult result, FlinkPipelineOptions flink, java.time.Duration max) {
    JobClient job = jobClient(result);
    if (job == null || isLocal(flink)) {
      return;
    }
    awaitEndedJobGraph(flink.getFlinkMaster(), job.getJobID().toString(), max);
  }

  static void awaitEndedJobGraph(String master, String jobId, java.time.Duration max) {
    long deadline = System.nanoTime() + max.toNanos();
    while (true) {
      try {
        String state = get(master, "/jobs/" + jobId).path("state").asText();
        if (ENDED_STATES.contains(state) || System.nanoTime() > deadline) {
          return;
        }
      } catch (RuntimeException unreachable) {
        return; // the summary says what it can; the cluster's state is not the launcher's to wait for
      }
      try {
        Thread.sleep(250);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  private static final Set<String> ENDED_STATES = Set.of("FINISHED", "CANCELED", "FAILED", "SUSPENDED");

  /** {@link #savepointOnStop}'s word for the session cluster's own {@code state.savepoints.dir}. */
  static final String CLUSTER_SAVEPOINT_DIR = "cluster";

  /**
   * Where a continuous job's savepoint goes when the launcher is stopped: {@code option} ({@code --savepointOnStop})
   * when it names a directory; {@link #CLUSTER_SAVEPOINT_DIR} (the cluster's {@code state.savepoints.dir}) when it
   * says so or, on a session cluster, says nothing; null (cancel) for {@code none}, and on {@code [local]} when it
   * says nothing (its cluster goes with the launcher, and it has no savepoint directory of its own).
   */
  static @Nullable String savepointOnStop(FlinkPipelineOptions flink, @Nullable String option) {
    if (option == null || option.isEmpty()) {
      return isFlink(flink) && !isLocal(flink) ? CLUSTER_SAVEPOINT_DIR : null;
    }
    return option.equals("none") ? null : option;
  }

  /**
   * Stops the job with a savepoint in {@code directory}, or the cluster's own savepoint directory for {@link
   * #CLUSTER_SAVEPOINT_DIR} (events keep their time: nothing fires early).
   */
  static String stopWithSavepoint(JobClient job, String directory) throws Exception {
    return job.stopWithSavepoint(false, directory.equals(CLUSTER_SAVEPOINT_DIR) ? null : directory,
        SavepointFormatType.CANONICAL).get(5, TimeUnit.MINUTES);
  }

  /** The session cluster's configuration, as its REST API reports it. */
  static Map<String, String> clusterConfig(String master) {
    Map<String, String> config = new HashMap<>();
    for (JsonNode entry : get(master, "/jobmanager/config")) {
      config.put(entry.path("key").asText(), entry.path("value").asText());
    }
    return config;
  }

  private static final HttpClient HTTP = HttpClient.newBuilder()
      .connectTimeout(java.time.Duration.ofSeconds(5)).build();

  static JsonNode get(String master, String path) {
    return send(master, "GET", path);
  }

  private static JsonNode send(String master, String method, String path) {
    String base = master.startsWith("http://") || master.startsWith("https://") ? master : "http://" + master;
    try {
      HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(base + path))
              .timeout(java.time.Duration.ofSeconds(10)).method(method, HttpRequest.BodyPublishers.noBody()).build(),
          HttpResponse.BodyHandlers.ofString());
      if (response.statusCode() / 100 != 2) {
        throw new IllegalStateException("Flink at " + master + " answered " + response.statusCode() + " to " + method
            + " " + path + ": " + response.body());
      }
      return response.body().isBlank() ? new ObjectMapper().createObjectNode()
          : new ObjectMapper().readTree(response.body());
    } catch (IOException e) {
      throw new IllegalStateException("cannot reach Flink's REST API at " + base + ": " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while asking Flink at " + base, e);
    }
  }
}
