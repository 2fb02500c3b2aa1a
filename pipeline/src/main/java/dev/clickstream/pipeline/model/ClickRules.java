package dev.clickstream.pipeline.model;

import dev.clickstream.pipeline.Settings;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Instant;

/**
 * What happens to one Kafka record, decided from its bytes and its Kafka timestamp alone, the same in a bounded and
 * in a continuous run: counted in its event-time window, dead-lettered with a reason, or left alone.
 *
 * <p>Lateness is decided here, by arrival: a click counts only if its Kafka timestamp is no later than its window's
 * end plus the allowed lateness; otherwise it is dead-lettered as {@code too_late}. That makes a bounded run
 * independent of bundle boundaries and watermarks. Given an interval (a bounded run's [from, to), or a resumed
 * continuous run's [first window to rebuild, +inf)), only clicks with event time in the interval are counted, and a
 * rejected record is dead-lettered by the run whose interval holds its Kafka timestamp, so consecutive runs count
 * every click once and dead-letter every rejection once.
 */
public final class ClickRules implements java.io.Serializable {
  private final long windowSizeMillis;
  private final long allowedLatenessMillis;
  private final Settings.@Nullable Interval counted;
  private final Settings.@Nullable Interval owned;

  public ClickRules(long windowSizeMillis, long allowedLatenessMillis, Settings.@Nullable Interval interval) {
    this(windowSizeMillis, allowedLatenessMillis, interval, interval);
  }

  /**
   * {@code counted}: the event times whose clicks are counted; {@code owned}: the Kafka timestamps whose rejected
   * records this run dead-letters. A bounded run with an early part counts beyond what it owns.
   */
  public ClickRules(long windowSizeMillis, long allowedLatenessMillis, Settings.@Nullable Interval counted,
      Settings.@Nullable Interval owned) {
    this.windowSizeMillis = windowSizeMillis;
    this.allowedLatenessMillis = allowedLatenessMillis;
    this.counted = counted;
    this.owned = owned;
  }

  public enum Kind { COUNT, MALFORMED, TOO_LATE, OUTSIDE_INTERVAL, NOT_OWNED }

  /** A judged record: the click to count, or the dead letter's reason and detail, or nothing to do. */
  public record Verdict(Kind kind, @Nullable Click click, String reason, String detail) {
    static final Verdict OUTSIDE_INTERVAL = new Verdict(Kind.OUTSIDE_INTERVAL, null, "", "");
    static final Verdict NOT_OWNED = new Verdict(Kind.NOT_OWNED, null, "", "");
  }

  public Verdict judge(byte @Nullable [] value, long arrival) {
    ClickParser.Result result = ClickParser.parse(value, arrival);
    Click click = result.click();
    if (click == null) {
      return ownsArrival(arrival) ? new Verdict(Kind.MALFORMED, null, result.reason().code, result.detail())
          : Verdict.NOT_OWNED;
    }
    long windowEnd = windowStart(click.eventTimeMillis()) + windowSizeMillis;
    if (arrival > windowEnd + allowedLatenessMillis) {
      return !ownsArrival(arrival) ? Verdict.NOT_OWNED : new Verdict(Kind.TOO_LATE, null,
          ClickParser.Reason.TOO_LATE.code, "arrived at " + new Instant(arrival) + ", after its window's end "
              + new Instant(windowEnd) + " plus the allowed lateness of " + allowedLatenessMillis / 1000.0 + " s");
    }
    if (counted != null && !counted.contains(click.eventTimeMillis())) {
      return Verdict.OUTSIDE_INTERVAL;
    }
    return new Verdict(Kind.COUNT, click, "", "");
  }

  public long windowSizeMillis() {
    return windowSizeMillis;
  }

  public long allowedLatenessMillis() {
    return allowedLatenessMillis;
  }

  long windowStart(long eventTimeMillis) {
    return Math.floorDiv(eventTimeMillis, windowSizeMillis) * windowSizeMillis;
  }

  /** A rejected record is dead-lettered by the run whose interval holds its Kafka timestamp. */
  private boolean ownsArrival(long arrival) {
    return owned == null || owned.contains(arrival);
  }
}
