package dev.clickstream.pipeline;

import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.transforms.windowing.IntervalWindow;
import org.apache.beam.sdk.transforms.windowing.PaneInfo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Clicks per product per window, one {@link WindowCount} per pane. Windowing and triggering are the caller's: this
 * transform only counts, so it works under any windowing.
 */
public final class CountClicksPerProduct extends PTransform<PCollection<Click>, PCollection<WindowCount>> {

  @Override
  public PCollection<WindowCount> expand(PCollection<Click> clicks) {
    return clicks
        .apply("KeyByProduct", WithKeys.of(Click::productId).withKeyType(TypeDescriptors.longs()))
        .apply("Count", Count.perKey())
        .apply("ToWindowCount", ParDo.of(new ToWindowCount()))
        .setCoder(WindowCount.WindowCountCoder.of());
  }

  static final class ToWindowCount extends DoFn<KV<Long, Long>, WindowCount> {
    @ProcessElement
    public void process(@Element KV<Long, Long> count, IntervalWindow window, PaneInfo pane,
        OutputReceiver<WindowCount> out) {
      out.output(new WindowCount(count.getKey(), window.start().getMillis(), window.end().getMillis(),
          count.getValue(), pane.getTiming().name(), pane.getIndex()));
    }
  }
}
