package dev.clickstream.pipeline.launch;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;

import dev.clickstream.pipeline.config.ClickCountOptions;
import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.io.OffsetRange;
import dev.clickstream.pipeline.io.ReadClicks;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.io.kafka.KafkaIO;
import org.apache.beam.sdk.runners.TransformHierarchy;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PValue;
import org.junit.jupiter.api.Test;

/**
 * A bounded run on Flink reads every piece in one KafkaIO read whose output is bounded: Flink runs a graph with no
 * unbounded collection as a batch job, and one read is one source, which shares the pieces out over the subtasks.
 */
class BoundedReadPlanTest {
  private static final List<OffsetRange> PIECES = KafkaSetupPieces.of(3, 4);

  @Test
  void onFlinkEveryPieceIsReadByOneBoundedRead() {
    ClickCountOptions options = RunnerOptions.parse("--runner=FlinkRunner", "--parallelism=2",
        "--from=2026-12-07T10:00:00Z", "--to=2026-12-07T10:04:00Z");
    Settings s = Settings.from(options);
    ReadClicks.BoundedRead read = Launcher.boundedRead(options, PIECES);
    assertThat(read, equalTo(ReadClicks.BoundedRead.SPLITTABLE_BOUNDED));

    Pipeline pipeline = Pipeline.create(options);
    PCollection<?> records = pipeline.apply("ReadFromKafka", ReadClicks.bounded(s, PIECES, read, false));
    assertThat(records.isBounded(), equalTo(PCollection.IsBounded.BOUNDED));

    Graph graph = Graph.of(pipeline);
    assertThat("KafkaIO.readSourceDescriptors()", graph.kafkaReads, equalTo(1));
    assertThat("KafkaIO.read()s", graph.legacyReads, equalTo(0));
    assertThat("unbounded collections (each makes Flink stream)", graph.unbounded, equalTo(List.of()));
  }

  // The DirectRunner keeps its legacy read per piece while the pieces fit in memory (its fastest read).
  @Test
  void onTheDirectRunnerSmallPiecesAreReadOneLegacyReadEach() {
    ClickCountOptions options = RunnerOptions.parse("--from=2026-12-07T10:00:00Z", "--to=2026-12-07T10:04:00Z");
    ReadClicks.BoundedRead read = Launcher.boundedRead(options, PIECES);
    assertThat(read, equalTo(ReadClicks.BoundedRead.LEGACY_PER_PIECE));

    Pipeline pipeline = Pipeline.create(options);
    pipeline.apply("ReadFromKafka", ReadClicks.bounded(Settings.from(options), PIECES, read, false));
    Graph graph = Graph.of(pipeline);
    assertThat("KafkaIO.read()s", graph.legacyReads, equalTo(PIECES.size()));
    assertThat("KafkaIO.readSourceDescriptors()", graph.kafkaReads, equalTo(0));
  }

  /** What a pipeline's graph holds, counted once it is built. */
  private static final class Graph extends Pipeline.PipelineVisitor.Defaults {
    int kafkaReads;
    int legacyReads;
    final List<String> unbounded = new ArrayList<>();

    static Graph of(Pipeline pipeline) {
      Graph graph = new Graph();
      pipeline.traverseTopologically(graph);
      return graph;
    }

    @Override
    public CompositeBehavior enterCompositeTransform(TransformHierarchy.Node node) {
      if (node.getTransform() instanceof KafkaIO.ReadSourceDescriptors) {
        kafkaReads++;
      }
      if (node.getTransform() instanceof KafkaIO.Read) {
        legacyReads++;
      }
      return CompositeBehavior.ENTER_TRANSFORM;
    }

    @Override
    public void visitValue(PValue value, TransformHierarchy.Node producer) {
      if (value instanceof PCollection<?> c && c.isBounded() == PCollection.IsBounded.UNBOUNDED) {
        unbounded.add(c.getName());
      }
    }
  }

  /** Pieces of a topic's partitions, as the launcher plans them from whole ranges. */
  private static final class KafkaSetupPieces {
    static List<OffsetRange> of(int partitions, int piecesEach) {
      List<OffsetRange> pieces = new ArrayList<>();
      for (int p = 0; p < partitions; p++) {
        for (int i = 0; i < piecesEach; i++) {
          pieces.add(new OffsetRange("clicks", p, i * 1_000L, (i + 1) * 1_000L, 0L, 100_000));
        }
      }
      return pieces;
    }
  }
}
