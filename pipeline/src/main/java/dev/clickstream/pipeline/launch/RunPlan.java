package dev.clickstream.pipeline.launch;

import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.io.OffsetRange;
import dev.clickstream.pipeline.io.ReadClicks;
import dev.clickstream.pipeline.model.Settlement;
import java.util.List;
import org.apache.beam.sdk.Pipeline;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * What the launcher decided for one run, handed to the graph as plain values, so that the graph never asks which
 * runner it is on.
 *
 * @param resumeFromMillis a resumed continuous run: the first window start to count (the windows before it were
 *     complete before the previous run stopped); null otherwise
 * @param ranges a bounded run: the offsets to read
 * @param boundedRead a bounded run: how it reads its ranges; null otherwise
 * @param reportProgress the readers run in the launcher's JVM, and report each poll for the progress lines
 * @param closableReadersId a continuous run whose readers the launcher closes when the run is over (the DirectRunner
 *     does not close them), kept under this id; null when the runner closes them
 * @param settlement a settling run's decisions by offset; null otherwise
 * @param gatherPanes gather each pane's products into one bundle before the sinks: the DirectRunner bundles by key
 *     after a shuffle, and every bundle is one insert
 */
public record RunPlan(
    @Nullable Long resumeFromMillis,
    @Nullable List<OffsetRange> ranges,
    ReadClicks.@Nullable BoundedRead boundedRead,
    boolean reportProgress,
    @Nullable String closableReadersId,
    @Nullable Settlement settlement,
    boolean gatherPanes) {

  /** Builds the pipeline's graph for one run; {@code ClickCountPipeline::build}. */
  @FunctionalInterface
  public interface Graph {
    void build(Pipeline pipeline, Settings settings, RunPlan plan);
  }
}
