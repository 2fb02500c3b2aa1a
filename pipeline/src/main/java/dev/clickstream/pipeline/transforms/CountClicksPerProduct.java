package dev.clickstream.pipeline.transforms;

import dev.clickstream.pipeline.model.ClickRules;
import dev.clickstream.pipeline.model.WindowCount;
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
 * <p>Continuous: one on-time pane when the watermark passes the window, then late panes with the accumulated count: a
 * product's late clicks gather for {@code lateFiringDelay} after the first of them arrives and fire together (a late
 * pane carries only the products whose count changed). Bounded: the
 * input is complete, so each window fires once, after the whole input, with Beam's default trigger, the one under
 * which runners (the DirectRunner too) combine per bundle before the shuffle.
 */
public final class CountClicksPerProduct extends PTransform<PCollection<KV<Long, Void>>, PCollection<WindowCount>> {

  private final Duration windowSize;
  private final Duration allowedLateness;
  private final Duration lateFiringDelay;
  private final boolean bounded;

  public CountClicksPerProduct(Duration windowSize, Duration allowedLateness, Duration lateFiringDelay,
      boolean bounded) {
    this.windowSize = windowSize;
    this.allowedLateness = allowedLateness;
    this.lateFiringDelay = lateFiringDelay;
    this.bounded = bounded;
  }

  @Override
  public PCollection<WindowCount> expand(PCollection<KV<Long, Void>> clicks) {
    return clicks
        .apply("Windows", bounded ? Window.into(FixedWindows.of(windowSize))
            : windowing(windowSize, allowedLateness, lateFiringDelay))
        .apply("CountPerProduct", Count.perKey())
        .apply("ToWindowCounts", ParDo.of(new ToWindowCount(bounded)))
        .setCoder(WindowCount.WindowCountCoder.of());
  }

  /**
   * A continuous run's windows: one on-time pane when the watermark passes the window, then a late pane
   * {@code lateFiringDelay} (processing time) after the first late click of a pane arrived, each with the accumulated
   * count, as Beam's LeaderBoard fires its late panes. Firing on every late element instead made one ClickHouse row
   * and one Kafka record per read of late clicks, however many updated the same count. Beam keeps a window for the
   * allowed lateness plus {@link ClickRules#WATERMARK_GRACE}, and fires what is pending when it closes; ClickRules has
   * already removed the clicks that came later than the allowed lateness.
   */
  public static <T> Window<T> windowing(Duration windowSize, Duration allowedLateness, Duration lateFiringDelay) {
    return Window.<T>into(FixedWindows.of(windowSize))
        .triggering(AfterWatermark.pastEndOfWindow().withLateFirings(
            AfterProcessingTime.pastFirstElementInPane().plusDelayOf(lateFiringDelay)))
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
