package dev.clickstream.pipeline.transforms;

import dev.clickstream.pipeline.model.ClickRules;
import dev.clickstream.pipeline.model.WindowCount;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.windowing.AfterProcessingTime;
import org.apache.beam.sdk.transforms.windowing.AfterWatermark;
import org.apache.beam.sdk.transforms.windowing.FixedWindows;
import org.apache.beam.sdk.transforms.windowing.IntervalWindow;
import org.apache.beam.sdk.transforms.windowing.PaneInfo;
import org.apache.beam.sdk.transforms.windowing.Window;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.joda.time.Duration;

/**
 * Clicks per product per event-time window: {@code FixedWindows} → {@code Count.perKey} → one {@link WindowCount} per
 * product and pane, what both sinks receive.
 *
 * <p>Continuous: one on-time pane when the watermark passes the window, then late panes with the accumulated count: late
 * clicks gather until the wall clock next reaches a multiple of {@code lateFiringDelay}, and then every product whose
 * count changed fires at once (a late pane carries only those products). Bounded: the
 * input is complete, so each window fires once, after the whole input, with Beam's default trigger, the one under
 * which runners (the DirectRunner too) combine per bundle before the shuffle.
 */
public final class CountClicksPerProduct extends PTransform<PCollection<KV<Long, Void>>, PCollection<WindowCount>> {

  private final Duration windowSize;
  private final Duration allowedLateness;
  private final Duration lateFiringDelay;
  private final int hotKeyFanout;
  private final boolean bounded;

  public CountClicksPerProduct(Duration windowSize, Duration allowedLateness, Duration lateFiringDelay,
      int hotKeyFanout, boolean bounded) {
    this.windowSize = windowSize;
    this.allowedLateness = allowedLateness;
    this.lateFiringDelay = lateFiringDelay;
    this.hotKeyFanout = hotKeyFanout;
    this.bounded = bounded;
  }

  @Override
  public PCollection<WindowCount> expand(PCollection<KV<Long, Void>> clicks) {
    return clicks
        .apply("Windows", bounded ? Window.into(FixedWindows.of(windowSize))
            : windowing(windowSize, allowedLateness, lateFiringDelay))
        .apply("CountPerProduct", countPerProduct())
        .apply("ToWindowCounts", ParDo.of(new ToWindowCount(bounded)))
        .setCoder(WindowCount.WindowCountCoder.of());
  }

  /**
   * {@code Count.perKey}; in a continuous run with a fan-out, Beam's hot-key fan-out of it: each product's clicks are
   * counted first under (product, shard) keys, each shard on whichever worker its key lands, then the shards' partial
   * counts are added per product. Flink's streaming translation combines nothing before the shuffle, so without it
   * every click of a product goes to one worker, and under Zipf popularity the top product's worker does a large share
   * of the work. Both stages fire under the count's trigger (the first discards, the second accumulates, as Beam
   * arranges): the shards fire their late counts at an aligned instant, and the product's sum fires at the next one,
   * so a late click reaches the sinks within two periods of {@code lateFiringDelay} rather than one, and a shard's count
   * that reaches the sum on the instant itself fires at once, in a pane of its own. The counts of a product's panes
   * only grow either way. A bounded run needs no fan-out: runners combine before the shuffle there.
   */
  private PTransform<PCollection<KV<Long, Void>>, PCollection<KV<Long, Long>>> countPerProduct() {
    if (bounded || hotKeyFanout <= 1) {
      return Count.perKey();
    }
    // Count.perKey() is Combine.perKey(Count.combineFn()), typed as a plain PTransform: the fan-out needs the latter.
    return Combine.<Long, Void, Long>perKey(Count.combineFn()).withHotKeyFanout(hotKeyFanout);
  }

  /**
   * A continuous run's windows: one on-time pane when the watermark passes the window, then late panes with the
   * accumulated count, as Beam's LeaderBoard fires its late panes, but at the next multiple of {@code lateFiringDelay}
   * of processing time after a late click arrives rather than that long after it. Firing on every late element made one
   * ClickHouse row and one Kafka record per read of late clicks, however many updated the same count; a delay counted
   * from each product's first late click still spread the products' panes over the period, and each sink writes once
   * per bundle, so the late rows went to ClickHouse a few at a time, each insert a part to merge. Aligned, every
   * product of a subtask fires at the same instant and the late panes reach the sinks in one bundle.
   * {@code PT0S}: a late pane per read of late clicks. Beam keeps a window for the allowed lateness plus {@link
   * ClickRules#WATERMARK_GRACE}, and fires what is pending when it closes; ClickRules has already removed the clicks
   * that came later than the allowed lateness.
   */
  public static <T> Window<T> windowing(Duration windowSize, Duration allowedLateness, Duration lateFiringDelay) {
    AfterProcessingTime late = AfterProcessingTime.pastFirstElementInPane();
    return Window.<T>into(FixedWindows.of(windowSize))
        .triggering(AfterWatermark.pastEndOfWindow().withLateFirings(
            lateFiringDelay.isEqual(Duration.ZERO) ? late : late.alignedTo(lateFiringDelay)))
        .withAllowedLateness(allowedLateness.plus(ClickRules.WATERMARK_GRACE), Window.ClosingBehavior.FIRE_IF_NON_EMPTY)
        .accumulatingFiredPanes();
  }

  /**
   * The pane a bounded run reports. Over complete input every window fires exactly once, after the watermark has
   * passed it: its on-time pane, which the DirectRunner reports as such. Flink's batch translation groups without
   * triggers and reports no pane at all ({@code UNKNOWN}, index 0); it is the same single, complete firing, so it is
   * written as {@code ON_TIME}, first and last, as on the DirectRunner.
   */
  public static PaneInfo paneOfCompleteWindow(PaneInfo pane) {
    return pane.getTiming() == PaneInfo.Timing.UNKNOWN
        ? PaneInfo.createPane(true, true, PaneInfo.Timing.ON_TIME, 0, 0) : pane;
  }

  static final class ToWindowCount extends DoFn<KV<Long, Long>, WindowCount> {
    private final boolean bounded;

    ToWindowCount(boolean bounded) {
      this.bounded = bounded;
    }

    @ProcessElement
    public void process(@Element KV<Long, Long> count, IntervalWindow window, PaneInfo pane,
        OutputReceiver<WindowCount> out) {
      out.output(WindowCount.of(count.getKey(), count.getValue(), window,
          bounded ? paneOfCompleteWindow(pane) : pane));
    }
  }
}
