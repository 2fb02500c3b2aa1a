package dev.clickstream.pipeline.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.DefaultCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.transforms.windowing.IntervalWindow;
import org.apache.beam.sdk.transforms.windowing.PaneInfo;

/**
 * One pane of one product's window count: what both sinks receive. {@code timing} is the pane's
 * {@code EARLY}/{@code ON_TIME}/{@code LATE}/{@code UNKNOWN}; counts accumulate over a window's panes.
 */
@DefaultCoder(WindowCount.WindowCountCoder.class)
public record WindowCount(long productId, long windowStart, long windowEnd, long count, String timing,
    long paneIndex) {

  /** A product's count in a window, as of the pane that fired it. */
  public static WindowCount of(long productId, long count, IntervalWindow window, PaneInfo pane) {
    return new WindowCount(productId, window.start().getMillis(), window.end().getMillis(), count,
        pane.getTiming().name(), pane.getIndex());
  }

  /** The aggregate's Kafka value: one JSON object. */
  public byte[] toJson() {
    return ("{\"product_id\":" + productId + ",\"window_start\":" + windowStart + ",\"window_end\":" + windowEnd
        + ",\"count\":" + count + ",\"pane_timing\":\"" + timing + "\",\"pane_index\":" + paneIndex + "}")
        .getBytes(StandardCharsets.UTF_8);
  }

  /**
   * The aggregate's Kafka key: product and window, one JSON object. Every pane of a window has the same key, so a
   * compacted topic keeps one record per window, and the same key bytes, so that compaction finds them equal.
   */
  public byte[] key() {
    return ("{\"product_id\":" + productId + ",\"window_start\":" + windowStart + "}")
        .getBytes(StandardCharsets.UTF_8);
  }

  public static final class WindowCountCoder extends AtomicCoder<WindowCount> {
    private static final VarLongCoder LONG = VarLongCoder.of();

    public static WindowCountCoder of() {
      return new WindowCountCoder();
    }

    @Override
    public void encode(WindowCount w, OutputStream out) throws IOException {
      LONG.encode(w.productId(), out);
      LONG.encode(w.windowStart(), out);
      LONG.encode(w.windowEnd(), out);
      LONG.encode(w.count(), out);
      StringUtf8Coder.of().encode(w.timing(), out);
      LONG.encode(w.paneIndex(), out);
    }

    @Override
    public WindowCount decode(InputStream in) throws IOException {
      return new WindowCount(LONG.decode(in), LONG.decode(in), LONG.decode(in), LONG.decode(in),
          StringUtf8Coder.of().decode(in), LONG.decode(in));
    }

    @Override
    public void verifyDeterministic() {}
  }
}
