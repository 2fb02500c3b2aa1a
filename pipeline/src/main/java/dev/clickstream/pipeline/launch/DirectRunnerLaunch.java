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
   * every step; they are for tests, which keep them (TestPipeline): measured on 1 M clicks here, they cut a naive
   * pipeline's speed by a factor of 5 to 6 (issue 6). And one worker thread per core rather than the runner's
   * default of at least 3: a third thread on this 2-core machine spun in the runner's watermark bookkeeping while
   * the two readers ran, and bounded runs took 8.4 s instead of 6.3 s.
   */
  public static List<String> productionFlags() {
    return List.of("--enforceImmutability=false", "--enforceEncodability=false",
        "--targetParallelism=" + Runtime.getRuntime().availableProcessors());
  }

  /**
   * The most offsets one bounded read takes on the DirectRunner ({@link ReadClicks#bounded}), which holds a read's
   * records in one bundle: 1.5 M records of one partition ran a 1 GB heap out of memory. Flink streams them: there the
   * ranges are cut into four pieces per worker, so that every worker reads (each piece's read lands on a worker at
   * random), even with fewer partitions than workers.
   */
  public static final long MAX_PIECE = 200_000;
  /**
   * The most bytes one bounded read takes on the DirectRunner, estimated: 1,600 records of 950 KB in one read ran a
   * 1 GB heap out of memory (GarbageFloodIT).
   */
  public static final long MAX_PIECE_BYTES = 32L * 1024 * 1024;

  /**
   * The most bytes (estimated, keys and values) a bounded run on the DirectRunner reads with legacy reads, which it
   * holds in memory until they are done: 3/8 of the heap, 384 MB at -Xmx1g. More is read by KafkaIO's splittable
   * reader, 100 records at a time, which is far slower there. 1.5 GB of 950 KB records ran a 1 GB heap out of memory
   * with legacy reads, in pieces of 32 MB too (GarbageFloodIT); 3 M clicks (about 300 MB) did not.
   */
  public static long inMemoryBytes() {
    return Runtime.getRuntime().maxMemory() / 8 * 3;
  }

  /** Whether a bounded run reads its pieces with legacy reads ({@link ReadClicks#bounded}). */
  public static boolean readsInMemory(PipelineOptions options,
      List<OffsetRange> ranges) {
    return FlinkLaunch.isFlink(options)
        || ranges.stream().mapToLong(OffsetRange::estimatedBytes).sum() <= inMemoryBytes();
  }

  /**
   * The DirectRunner's worker threads for a bounded run read by KafkaIO's splittable reader: one per range read, plus
   * two for the steps after the read. The DirectRunner has no flow control, and a range's read holds a worker while it
   * reads on; with the default of one worker per core (2 here) both could be reading while the dead-letter writer
   * waited in {@code KafkaProducer.send} for the broker, and what was read piled up in the runner's queues (the
   * records pending for the next step, seen in a JFR old-object sample). GarbageFloodIT (1.5 GB of 950 KB dead
   * letters written back to Kafka, at -Xmx1g) ran out of heap in 4 of 5 runs with 2 workers and in 2 of 3 with 1;
   * with 4 (2 partitions) it passed 7 of 7, peak RSS 1,255-1,283 MB.
   */
  static void workersForSplittableRead(PipelineOptions options, int ranges) {
    options.as(DirectOptions.class).setTargetParallelism(ranges + 2);
  }
}
