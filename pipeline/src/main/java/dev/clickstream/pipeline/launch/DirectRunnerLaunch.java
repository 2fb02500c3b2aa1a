package dev.clickstream.pipeline.launch;

import dev.clickstream.pipeline.io.ClosableSource;
import dev.clickstream.pipeline.io.OffsetRange;
import dev.clickstream.pipeline.io.ReadClicks;
import dev.clickstream.pipeline.transforms.GatherPerWindow;
import java.util.List;
import org.apache.beam.runners.direct.DirectOptions;
import org.apache.beam.sdk.options.PipelineOptions;

/**
 * What only the DirectRunner needs to run this pipeline for real rather than as a test: its production flags, and the
 * limits of a bounded read it holds in memory. (Its other needs: {@link ClosableSource}, the restart loop in
 * {@link Supervisor}, and {@link GatherPerWindow}.)
 */
public final class DirectRunnerLaunch {
  private DirectRunnerLaunch() {}

  /**
   * DirectRunner settings for production runs from {@code main}, each unless the command line sets it. The checks
   * that every element is left unmodified and survives its coder cost a copy and an encoding of every element at
   * every step; they are for tests, which keep them (TestPipeline). And one worker thread per core rather than the
   * runner's default of at least 3: on a 2-core machine a third thread spins in the runner's watermark bookkeeping
   * while the two readers run. docs/configuration.md has what each costs.
   */
  public static List<String> productionFlags() {
    return List.of("--enforceImmutability=false", "--enforceEncodability=false",
        "--targetParallelism=" + Runtime.getRuntime().availableProcessors());
  }

  /**
   * The most offsets one bounded read takes on the DirectRunner ({@link ReadClicks#bounded}), which holds a read's
   * records in one bundle: a whole partition of a large interval does not fit a 1 GB heap. (Flink reads every piece
   * in one splittable read, which streams them.)
   */
  public static final long MAX_PIECE = 200_000;
  /**
   * The most bytes one bounded read takes on the DirectRunner, estimated: large records fill a 1 GB heap long before
   * {@link #MAX_PIECE} of them (GarbageFloodIT).
   */
  public static final long MAX_PIECE_BYTES = 32L * 1024 * 1024;

  /**
   * The most bytes (estimated, keys and values) a bounded run on the DirectRunner reads with legacy reads, which it
   * holds in memory until they are done: 3/8 of the heap. More is read by KafkaIO's splittable reader, 100 records at
   * a time, which is far slower there but holds little (GarbageFloodIT reads 1.5 GB at -Xmx1g that way).
   */
  public static long inMemoryBytes() {
    return Runtime.getRuntime().maxMemory() / 8 * 3;
  }

  /** Whether a bounded run on the DirectRunner can read its pieces with legacy reads ({@link ReadClicks#bounded}). */
  public static boolean readsInMemory(List<OffsetRange> ranges) {
    return ranges.stream().mapToLong(OffsetRange::estimatedBytes).sum() <= inMemoryBytes();
  }

  /**
   * The DirectRunner's worker threads for a bounded run read by KafkaIO's splittable reader: one per range read, plus
   * two for the steps after the read. The DirectRunner has no flow control, and a range's read holds a worker while it
   * reads on; with one worker per core every worker could be reading while the dead-letter writer waited in {@code
   * KafkaProducer.send} for the broker, and what was read piled up in the runner's queues until the heap ran out
   * (GarbageFloodIT; docs/testing.md has its runs).
   */
  static void workersForSplittableRead(PipelineOptions options, int ranges) {
    options.as(DirectOptions.class).setTargetParallelism(ranges + 2);
  }
}
