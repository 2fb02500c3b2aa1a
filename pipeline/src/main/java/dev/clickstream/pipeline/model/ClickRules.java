package dev.clickstream.pipeline.model;

import org.joda.time.Duration;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Instant;

/**
 * What happens to one Kafka record, decided from its bytes, its Kafka timestamp and its place in its partition: counted
 * in its event-time window, dead-lettered with a reason, or left alone.
 *
 * <p>Lateness is decided here, by arrival: a click counts only if its Kafka timestamp is no later than its window's
 * end plus the allowed lateness; otherwise it is dead-lettered as {@code too_late}. That makes a bounded run
 * independent of bundle boundaries and watermarks. Given an interval (a bounded run's [from, to), or a resumed
 * continuous run's [first window to rebuild, +inf)), only clicks with event time in the interval are counted, and a
 * rejected record is dead-lettered by the run whose interval holds its Kafka timestamp, so consecutive runs count
 * every click once and dead-letter every rejection once.
 *
 * <p>A click can be in time by its own Kafka timestamp and still come after its partition moved past its window's
 * deadline: a producer whose clock is behind the others', or one that buffered it. Such a click is dead-lettered as
 * {@code window_closed}, never dropped unseen. A continuous run sees it by the time KafkaIO's read gave the record
 * (its Kafka timestamp, raised to what its partition already held: {@code ArrivalTimePolicy}, {@link
 * #closesByReadTime}); a settling run by the partition's offsets ({@link Settlement}), which amounts to the same rule.
 */
public final class ClickRules implements java.io.Serializable {
  /**
   * How much longer than the allowed lateness Beam keeps a window open. Which clicks count is decided here,
   * by arrival; the watermark only says when a window's on-time pane fires. A click the arrival rule accepts can
   * still reach its window after the watermark passed the lateness: a producer that buffered it through a broker
   * outage, a reader that was behind. The grace keeps such a click from being dropped by Beam (seen in
   * ServiceOutageIT).
   */
  public static final Duration WATERMARK_GRACE = Duration.standardMinutes(5);

  private final long windowSizeMillis;
  private final long allowedLatenessMillis;
  private final @Nullable Interval counted;
  private final @Nullable Interval owned;
  private final @Nullable Settlement settlement;
  private final boolean closesByReadTime;

  public ClickRules(long windowSizeMillis, long allowedLatenessMillis, @Nullable Interval interval) {
    this(windowSizeMillis, allowedLatenessMillis, interval, interval);
  }

  /**
   * {@code counted}: the event times whose clicks are counted; {@code owned}: the Kafka timestamps whose rejected
   * records this run dead-letters. A bounded run with an early part counts beyond what it owns.
   */
  public ClickRules(long windowSizeMillis, long allowedLatenessMillis, @Nullable Interval counted,
      @Nullable Interval owned) {
    this(windowSizeMillis, allowedLatenessMillis, counted, owned, null, false);
  }

  private ClickRules(long windowSizeMillis, long allowedLatenessMillis, @Nullable Interval counted,
      @Nullable Interval owned, @Nullable Settlement settlement, boolean closesByReadTime) {
    this.windowSizeMillis = windowSizeMillis;
    this.allowedLatenessMillis = allowedLatenessMillis;
    this.counted = counted;
    this.owned = owned;
    this.settlement = settlement;
    this.closesByReadTime = closesByReadTime;
  }

  /** A settling run's rules: the windows of [settledFrom, countTo), ownership and cuts by offsets. */
  public static ClickRules settling(long windowSizeMillis, long allowedLatenessMillis, Settlement settlement) {
    return new ClickRules(windowSizeMillis, allowedLatenessMillis,
        new Interval(settlement.settledFrom(), settlement.countTo()), null, settlement, false);
  }

  /**
   * A continuous run's rules: as these, and a click whose read time (its Kafka timestamp, raised to what its partition
   * already held) is past its window's deadline is {@code window_closed}: its window closed.
   */
  public ClickRules closingByReadTime() {
    return new ClickRules(windowSizeMillis, allowedLatenessMillis, counted, owned, settlement, true);
  }

  public enum Kind { COUNT, MALFORMED, TOO_LATE, WINDOW_CLOSED, OUTSIDE_INTERVAL, NOT_OWNED, ALREADY_DEAD_LETTERED }

  /** A judged record: the click to count, or the dead letter's reason and detail, or nothing to do. */
  public record Verdict(Kind kind, @Nullable Click click, String reason, String detail) {
    static final Verdict OUTSIDE_INTERVAL = new Verdict(Kind.OUTSIDE_INTERVAL, null, "", "");
    static final Verdict NOT_OWNED = new Verdict(Kind.NOT_OWNED, null, "", "");
    static final Verdict ALREADY_DEAD_LETTERED = new Verdict(Kind.ALREADY_DEAD_LETTERED, null, "", "");
  }

  /** A record judged by its bytes and Kafka timestamp alone (no partition, no read time). */
  public Verdict judge(byte @Nullable [] value, long arrival) {
    return judge(value, 0, 0, arrival, arrival);
  }

  /**
   * @param arrival the record's Kafka timestamp
   * @param readTime when KafkaIO's read gave it: its Kafka timestamp, raised to what its partition already held
   */
  public Verdict judge(byte @Nullable [] value, int partition, long offset, long arrival, long readTime) {
    ClickParser.Result result = ClickParser.parse(value, arrival);
    Click click = result.click();
    if (click == null) {
      return dead(partition, offset, arrival, Kind.MALFORMED, result.reason().code, result.detail());
    }
    long windowStart = windowStart(click.eventTimeMillis());
    long windowEnd = windowStart + windowSizeMillis;
    long deadline = windowEnd + allowedLatenessMillis;
    if (arrival > deadline) {
      return dead(partition, offset, arrival, Kind.TOO_LATE, ClickParser.Reason.TOO_LATE.code,
          "arrived at " + new Instant(arrival) + ", after its window's end " + new Instant(windowEnd)
              + " plus the allowed lateness of " + allowedLatenessMillis / 1000.0 + " s");
    }
    if (settlement != null) {
      if (windowStart < settlement.settledFrom()) {
        return dead(partition, offset, arrival, Kind.WINDOW_CLOSED, ClickParser.Reason.WINDOW_CLOSED.code,
            "reached partition " + partition + " at offset " + offset + " after its window " + new Instant(windowStart)
                + " was settled");
      }
      if (windowStart >= settlement.countTo()) {
        return Verdict.OUTSIDE_INTERVAL;
      }
      if (!settlement.beforeCut(windowStart, partition, offset)) {
        return dead(partition, offset, arrival, Kind.WINDOW_CLOSED, ClickParser.Reason.WINDOW_CLOSED.code,
            "reached partition " + partition + " at offset " + offset + " after a record stamped past its window's"
                + " deadline " + new Instant(deadline) + " (its own Kafka timestamp " + new Instant(arrival) + ")");
      }
      return new Verdict(Kind.COUNT, click, "", "");
    }
    if (counted != null && !counted.contains(click.eventTimeMillis())) {
      return Verdict.OUTSIDE_INTERVAL;
    }
    if (closesByReadTime && readTime > deadline) {
      return dead(partition, offset, arrival, Kind.WINDOW_CLOSED, ClickParser.Reason.WINDOW_CLOSED.code,
          "reached its partition after it had moved on to " + new Instant(readTime) + ", past its window's deadline "
              + new Instant(deadline) + " (its own Kafka timestamp " + new Instant(arrival) + ")");
    }
    return new Verdict(Kind.COUNT, click, "", "");
  }

  /** A rejection, if this run owns it: by offsets in a settling run, by Kafka timestamp otherwise. */
  private Verdict dead(int partition, long offset, long arrival, Kind kind, String reason, String detail) {
    if (settlement != null) {
      if (!settlement.owns(partition, offset)) {
        return Verdict.NOT_OWNED;
      }
      if (settlement.alreadyDeadLettered(partition, offset)) {
        return Verdict.ALREADY_DEAD_LETTERED;
      }
    } else if (owned != null && !owned.contains(arrival)) {
      return Verdict.NOT_OWNED;
    }
    return new Verdict(kind, null, reason, detail);
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
}
