package dev.clickstream.pipeline.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.net.httpserver.HttpServer;
import dev.clickstream.pipeline.config.ClickCountOptions;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.apache.beam.runners.flink.FlinkPipelineOptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Parsing the options asks no service anything; a job on a session cluster gets the cluster's parallelism and
 * checkpoint interval when it starts, unless the command line set them.
 */
class RunnerOptionsTest {
  private HttpServer flink;
  private final AtomicInteger configRequests = new AtomicInteger();

  @BeforeEach
  void startFakeJobManager() throws IOException {
    flink = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    serve("/jobmanager/config", () -> {
      configRequests.incrementAndGet();
      return "[{\"key\":\"parallelism.default\",\"value\":\"3\"},"
          + "{\"key\":\"execution.checkpointing.interval\",\"value\":\"7 s\"}]";
    });
    flink.start();
  }

  /** The fake JobManager answers GET {@code path} with the JSON {@code body} gives. */
  private void serve(String path, Supplier<String> body) {
    flink.createContext(path, exchange -> {
      byte[] bytes = body.get().getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(200, bytes.length);
      exchange.getResponseBody().write(bytes);
      exchange.close();
    });
  }

  // A job page that says RUNNING twice (Flink's REST cache still holding the running job's graph), then FINISHED: the
  // launcher reads the ended job's metrics only after the third answer, and gives up waiting on a job that never ends.
  @Test
  void anEndedJobsMetricsWaitForTheClustersCacheToShowItEnded() {
    AtomicInteger asked = new AtomicInteger();
    serve("/jobs/ended", () -> "{\"state\":\"" + (asked.incrementAndGet() < 3 ? "RUNNING" : "FINISHED") + "\"}");
    FlinkLaunch.awaitEndedJobGraph(master(), "ended", java.time.Duration.ofSeconds(10));
    assertEquals(3, asked.get());
    serve("/jobs/running", () -> "{\"state\":\"RUNNING\"}");
    long start = System.nanoTime();
    FlinkLaunch.awaitEndedJobGraph(master(), "running", java.time.Duration.ofMillis(600));
    long tookMillis = (System.nanoTime() - start) / 1_000_000;
    org.junit.jupiter.api.Assertions.assertTrue(tookMillis >= 600 && tookMillis < 5_000, "waited " + tookMillis + " ms");
  }

  @AfterEach
  void stop() {
    flink.stop(0);
  }

  private String master() {
    return "127.0.0.1:" + flink.getAddress().getPort();
  }

  @Test
  void parsingFlinkOptionsAsksNoCluster() {
    // Nothing listens on port 9 here: parsing must not try to reach it.
    ClickCountOptions options = RunnerOptions.parse("--runner=FlinkRunner", "--flinkMaster=127.0.0.1:9");
    FlinkPipelineOptions flinkOptions = options.as(FlinkPipelineOptions.class);
    assertEquals(-1, flinkOptions.getParallelism());
    assertEquals(-1L, flinkOptions.getCheckpointingInterval());
    assertEquals("click-count-click-count-pipeline", options.getJobName());
  }

  // Stopping a continuous job on a session cluster keeps its state by default (a savepoint in the cluster's own
  // savepoint directory): a cancel would throw the open windows away.
  @Test
  void aStoppedJobOnASessionClusterLeavesASavepointUnlessToldOtherwise() {
    FlinkPipelineOptions cluster = RunnerOptions.parse("--runner=FlinkRunner", "--flinkMaster=127.0.0.1:9")
        .as(FlinkPipelineOptions.class);
    assertEquals(FlinkLaunch.CLUSTER_SAVEPOINT_DIR, FlinkLaunch.savepointOnStop(cluster, null));
    assertEquals("file:///sp", FlinkLaunch.savepointOnStop(cluster, "file:///sp"));
    assertEquals(null, FlinkLaunch.savepointOnStop(cluster, "none"));
    FlinkPipelineOptions local = RunnerOptions.parse("--runner=FlinkRunner").as(FlinkPipelineOptions.class);
    assertEquals(null, FlinkLaunch.savepointOnStop(local, null));
    assertEquals("file:///sp", FlinkLaunch.savepointOnStop(local, "file:///sp"));
    FlinkPipelineOptions direct = RunnerOptions.parse().as(FlinkPipelineOptions.class);
    assertEquals(null, FlinkLaunch.savepointOnStop(direct, null));
  }

  @Test
  void aContinuousJobsMaxParallelismIsPinnedSoThatItsSavepointsRescale() {
    FlinkPipelineOptions continuous = RunnerOptions.parse("--runner=FlinkRunner", "--flinkMaster=127.0.0.1:9")
        .as(FlinkPipelineOptions.class);
    assertEquals(128, continuous.getMaxParallelism());
    FlinkPipelineOptions chosen = RunnerOptions.parse("--runner=FlinkRunner", "--maxParallelism=512")
        .as(FlinkPipelineOptions.class);
    assertEquals(512, chosen.getMaxParallelism());
  }

  @Test
  void aContinuousJobTakesTheClustersParallelismAndCheckpointIntervalWhenItStarts() {
    FlinkPipelineOptions options = RunnerOptions.parse("--runner=FlinkRunner", "--flinkMaster=" + master())
        .as(FlinkPipelineOptions.class);
    assertEquals(0, configRequests.get());
    FlinkLaunch.applyClusterDefaults(options, false);
    assertEquals(3, options.getParallelism());
    assertEquals(7_000L, options.getCheckpointingInterval());
  }

  @Test
  void whatTheCommandLineSetsStays() {
    FlinkPipelineOptions options = RunnerOptions.parse("--runner=FlinkRunner", "--flinkMaster=" + master(),
        "--parallelism=4", "--checkpointingInterval=2000").as(FlinkPipelineOptions.class);
    FlinkLaunch.applyClusterDefaults(options, false);
    assertEquals(4, options.getParallelism());
    assertEquals(2_000L, options.getCheckpointingInterval());
    assertEquals(0, configRequests.get(), "nothing left to ask the cluster");
  }

  @Test
  void localRunsGetOneSubtaskPerCoreAndTheDefaultCheckpointInterval() {
    FlinkPipelineOptions options = RunnerOptions.parse("--runner=FlinkRunner").as(FlinkPipelineOptions.class);
    FlinkLaunch.applyClusterDefaults(options, false);
    assertEquals(Runtime.getRuntime().availableProcessors(), options.getParallelism());
    assertEquals(Long.parseLong(FlinkLaunch.DEFAULT_CHECKPOINT_INTERVAL_MILLIS), options.getCheckpointingInterval());
  }

  // Flink's default on [local] keeps checkpoints in the JobManager's memory, at most 5 MB of state per subtask: a
  // continuous job whose windows hold more (the hot-key fan-out at 20,000 clicks/s) failed every checkpoint and
  // restarted from its last good one. The environment Beam builds for a continuous job there writes them to files.
  @Test
  void aContinuousJobOnLocalCheckpointsToFilesNotToTheJobManagersMemory() {
    FlinkPipelineOptions options = RunnerOptions.parse("--runner=FlinkRunner").as(FlinkPipelineOptions.class);
    org.apache.flink.streaming.api.environment.StreamExecutionEnvironment env =
        org.apache.beam.runners.flink.FlinkExecutionEnvironments.createStreamExecutionEnvironment(
            options, java.util.List.of(), null);
    org.apache.flink.runtime.state.StateBackend backend = env.getStateBackend();
    org.junit.jupiter.api.Assertions.assertInstanceOf(
        org.apache.flink.runtime.state.filesystem.FsStateBackend.class, backend);
    org.apache.flink.core.fs.Path checkpoints =
        ((org.apache.flink.runtime.state.filesystem.FsStateBackend) backend).getCheckpointPath();
    assertEquals("file", checkpoints.toUri().getScheme());
    assertEquals(java.nio.file.Path.of(System.getProperty("java.io.tmpdir"), "click-count-checkpoints")
        .toAbsolutePath().toString(), checkpoints.getPath());
    FlinkPipelineOptions bounded = RunnerOptions.parse("--runner=FlinkRunner", "--from=2026-01-01T00:00:00Z",
        "--to=2026-01-01T00:01:00Z").as(FlinkPipelineOptions.class);
    assertEquals(null, bounded.getStateBackend(), "a bounded job keeps no state across checkpoints");
    FlinkPipelineOptions cluster = RunnerOptions.parse("--runner=FlinkRunner", "--flinkMaster=127.0.0.1:9")
        .as(FlinkPipelineOptions.class);
    assertEquals(null, cluster.getStateBackend(), "a session cluster's configuration says where checkpoints go");
  }
}
