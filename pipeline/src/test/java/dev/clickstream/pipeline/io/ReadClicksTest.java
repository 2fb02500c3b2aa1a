package dev.clickstream.pipeline.io;

import dev.clickstream.pipeline.launch.Supervisor;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.io.kafka.KafkaTimestampType;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.junit.Rule;
import org.junit.Test;

/**
 * A bounded read's piece keeps its own records: a read bounded by a record count may run past the piece's end. A
 * continuous run's readers on the DirectRunner can be closed by the launcher when the run is over.
 */
public class ReadClicksTest {
  @Rule public final transient TestPipeline p = TestPipeline.create();

  @Test
  public void aPieceKeepsItsOffsetsAndLeavesWhatLiesPastItsEnd() {
    List<KafkaRecord<byte[], byte[]>> read = new ArrayList<>();
    for (long offset = 10; offset < 16; offset++) {
      read.add(new KafkaRecord<>("clicks", 0, offset, 0L, KafkaTimestampType.CREATE_TIME, null, null,
          ("r" + offset).getBytes(StandardCharsets.UTF_8)));
    }
    OffsetRange piece = new OffsetRange("clicks", 0, 10, 13, 0L);
    PCollection<Long> kept = p.apply(Create.of(read).withCoder(ReadClicks.CODER))
        .apply(ParDo.of(new ReadClicks.KeepRange(List.of(piece))))
        .apply(MapElements.into(TypeDescriptors.longs()).via(KafkaRecord::getOffset));
    PAssert.that(kept).containsInAnyOrder(10L, 11L, 12L);
    var result = p.run();
    result.waitUntilFinish();
    org.junit.Assert.assertEquals(3, Supervisor.counter(result, ReadClicks.inRange(piece)));
    org.junit.Assert.assertEquals(3, Supervisor.counter(result, ReadClicks.pastRange(piece)));
  }

  @Test
  public void theReadersARunLeftOpenAreClosedAndForgottenOnceClosed() throws Exception {
    var options = org.apache.beam.sdk.options.PipelineOptionsFactory.create();
    ClosableSource<Long, ?> source = new ClosableSource<>(org.apache.beam.sdk.io.CountingSource.unbounded(), "run-1");
    var closedByRunner = source.createReader(options, null);
    var leftOpen = source.split(1, options).get(0).createReader(options, null);
    org.junit.Assert.assertTrue(leftOpen.start());
    org.junit.Assert.assertEquals(0L, (long) leftOpen.getCurrent());
    org.junit.Assert.assertSame("a reader names its own source", ClosableSource.class,
        leftOpen.getCurrentSource().getClass());
    closedByRunner.close();
    org.junit.Assert.assertEquals("the one left open", 1, ClosableSource.closeReadersOf("run-1"));
    org.junit.Assert.assertEquals("nothing twice", 0, ClosableSource.closeReadersOf("run-1"));
  }
}
