package dev.clickstream.pipeline.transforms;

import dev.clickstream.pipeline.model.WindowCount;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.transforms.windowing.Window;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Gathers the counts of all products of a window's pane into one bundle before the sinks, on the DirectRunner.
 * Downstream of a GroupByKey the DirectRunner makes one bundle per key (here: per product), and ClickHouseIO
 * inserts, like KafkaIO flushes, once per bundle: without this a window of 100 products cost 100 one-row inserts,
 * each a part for ClickHouse to merge. The on-time pane waits for the watermark that fired it; late panes pass on as
 * they come (discarding: each WindowCount already holds its accumulated count). Other runners (Flink) bundle by
 * count and time, not by key: one key would only put all the work on one worker, so they go without.
 */
public final class GatherPerWindow extends PTransform<PCollection<WindowCount>, PCollection<WindowCount>> {
  @Override
  public PCollection<WindowCount> expand(PCollection<WindowCount> counts) {
    return counts
        .apply("OneKey", WithKeys.<Integer, WindowCount>of(0).withKeyType(TypeDescriptors.integers()))
        .setCoder(KvCoder.of(VarIntCoder.of(), WindowCount.WindowCountCoder.of()))
        .apply("Discarding", Window.<KV<Integer, WindowCount>>configure().discardingFiredPanes())
        .apply("Group", GroupByKey.create())
        .apply("Ungroup", ParDo.of(new DoFn<KV<Integer, Iterable<WindowCount>>, WindowCount>() {
          @ProcessElement
          public void process(@Element KV<Integer, Iterable<WindowCount>> pane, OutputReceiver<WindowCount> out) {
            pane.getValue().forEach(out::output);
          }
        }))
        .setCoder(WindowCount.WindowCountCoder.of());
  }
}
