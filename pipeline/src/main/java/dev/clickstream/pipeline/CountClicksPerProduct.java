package dev.clickstream.pipeline;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.CoderRegistry;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.MapCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.Sum;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.transforms.windowing.IntervalWindow;
import org.apache.beam.sdk.transforms.windowing.PaneInfo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Clicks per product per window from the readers' partial counts ((product id, clicks), timestamped in their
 * window; see {@link ClickBatch}), one {@link WindowCount} per pane: the second half of {@code Count.perKey}, the
 * merge of partial counts. Windowing and triggering are the caller's.
 */
public final class CountClicksPerProduct {

  private CountClicksPerProduct() {}

  /**
   * The continuous path's count: one key per product, so that a late pane carries only the products whose count
   * changed, with its accumulated count.
   */
  public static PTransform<PCollection<KV<Long, Long>>, PCollection<WindowCount>> sumPerProduct() {
    return new PTransform<>() {
      @Override
      public PCollection<WindowCount> expand(PCollection<KV<Long, Long>> partialCounts) {
        return partialCounts
            .apply("Sum", Sum.longsPerKey())
            .apply("ToWindowCount", ParDo.of(new ToWindowCount()))
            .setCoder(WindowCount.WindowCountCoder.of());
      }
    };
  }

  /**
   * The bounded path's count: {@link ReadOffsetRanges} has counted the clicks per (product, window) inside the
   * reader; this adds up those partial counts per window, all products of a window together under one key, and makes
   * the same {@link WindowCount}s, one pane per window. One key rather than one per product because the DirectRunner
   * pays a bundle and a timer per key and window: over 1 M clicks in 600 (product, window) cells, the run's tail after
   * reading took 2.0-2.2 s with a key per product and 1.4-1.6 s with one. A bounded run fires every window once,
   * complete, so no late pane ever re-sends a window's products.
   */
  public static PTransform<PCollection<KV<Long, Long>>, PCollection<WindowCount>> sumPerWindow() {
    return new PTransform<>() {
      @Override
      public PCollection<WindowCount> expand(PCollection<KV<Long, Long>> partialCounts) {
        return partialCounts
            .apply("OneKey", WithKeys.<Integer, KV<Long, Long>>of(0).withKeyType(TypeDescriptors.integers()))
            .setCoder(KvCoder.of(VarIntCoder.of(), KvCoder.of(VarLongCoder.of(), VarLongCoder.of())))
            .apply("SumPerProduct", Combine.perKey(new SumPerProductFn()))
            .apply("ToWindowCounts", ParDo.of(new DoFn<KV<Integer, Map<Long, Long>>, WindowCount>() {
              @ProcessElement
              public void process(@Element KV<Integer, Map<Long, Long>> perProduct, IntervalWindow window,
                  PaneInfo pane, OutputReceiver<WindowCount> out) {
                new TreeMap<>(perProduct.getValue())
                    .forEach((product, clicks) -> out.output(WindowCount.of(product, clicks, window, pane)));
              }
            }))
            .setCoder(WindowCount.WindowCountCoder.of());
      }
    };
  }

  /** (product, clicks) pairs summed into product → clicks. */
  static final class SumPerProductFn extends Combine.CombineFn<KV<Long, Long>, Map<Long, Long>, Map<Long, Long>> {
    @Override
    public Map<Long, Long> createAccumulator() {
      return new HashMap<>();
    }

    @Override
    public Map<Long, Long> addInput(Map<Long, Long> sums, KV<Long, Long> partial) {
      sums.merge(partial.getKey(), partial.getValue(), Long::sum);
      return sums;
    }

    @Override
    public Map<Long, Long> mergeAccumulators(Iterable<Map<Long, Long>> accumulators) {
      Map<Long, Long> merged = new HashMap<>();
      accumulators.forEach(a -> a.forEach((product, clicks) -> merged.merge(product, clicks, Long::sum)));
      return merged;
    }

    @Override
    public Map<Long, Long> extractOutput(Map<Long, Long> sums) {
      return sums;
    }

    @Override
    public Coder<Map<Long, Long>> getAccumulatorCoder(CoderRegistry registry, Coder<KV<Long, Long>> inputCoder) {
      return MapCoder.of(VarLongCoder.of(), VarLongCoder.of());
    }

    @Override
    public Coder<Map<Long, Long>> getDefaultOutputCoder(CoderRegistry registry, Coder<KV<Long, Long>> inputCoder) {
      return MapCoder.of(VarLongCoder.of(), VarLongCoder.of());
    }
  }

  static final class ToWindowCount extends DoFn<KV<Long, Long>, WindowCount> {
    @ProcessElement
    public void process(@Element KV<Long, Long> count, IntervalWindow window, PaneInfo pane,
        OutputReceiver<WindowCount> out) {
      out.output(WindowCount.of(count.getKey(), count.getValue(), window, pane));
    }
  }
}
