package dev.clickstream.pipeline.model;

import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a settling run decides per record beyond the arrival rule, by the record's partition and offset. A settling
 * run (the DAG's, {@code --settle}) counts the windows of [{@link #settledFrom}, {@link #countTo}): those before
 * {@link #settledTo} for the last time, the rest early.
 *
 * <ul>
 *   <li><b>Cuts.</b> A click of window W counts only if it lies before W's cut in its partition: the first record
 *       whose Kafka timestamp is past W's deadline (its end + the allowed lateness) by more than the watermark's
 *       {@code maxOutOfOrderness}, or the partition's end when the run was planned. Behind that record the partition
 *       had already passed W's deadline; a record appended after the run that settled W looked is past its cut
 *       too. So a settled window's count never changes, and an early count is never more than the final one.
 *   <li><b>Ownership.</b> Each run owns the offsets [previous run's cut, its own cut) of every partition, and
 *       dead-letters the rejected records among them, exactly those: malformed, too late, and the clicks past their
 *       window's cut ({@code window_closed}), whatever their Kafka timestamps. Consecutive runs' offsets follow each
 *       other without gap or overlap, so every record is judged by one run.
 *   <li><b>Already written.</b> Offsets a failed earlier attempt of the same run already dead-lettered are not
 *       dead-lettered again.
 * </ul>
 */
public final class Settlement implements java.io.Serializable {
  private final long settledFrom;
  private final long settledTo;
  private final long countTo;
  private final long windowSizeMillis;
  private final Map<Integer, long[]> owned;
  private final Map<Integer, long[]> cuts;
  private final Map<Integer, long[]> deadLettered;

  /**
   * @param owned partition to {from, to}: the offsets this run judges rejections of
   * @param cuts partition to the cut of each window of [settledFrom, countTo), in window order
   * @param deadLettered partition to offsets already dead-lettered by an earlier attempt (any order)
   */
  public Settlement(long settledFrom, long settledTo, long countTo, long windowSizeMillis, Map<Integer, long[]> owned,
      Map<Integer, long[]> cuts, Map<Integer, long[]> deadLettered) {
    if (settledFrom > settledTo || settledTo > countTo) {
      throw new IllegalArgumentException("a settlement needs settledFrom <= settledTo <= countTo");
    }
    this.settledFrom = settledFrom;
    this.settledTo = settledTo;
    this.countTo = countTo;
    this.windowSizeMillis = windowSizeMillis;
    this.owned = new TreeMap<>(owned);
    this.cuts = new TreeMap<>(cuts);
    int windows = windows();
    this.cuts.forEach((p, c) -> {
      if (c.length != windows) {
        throw new IllegalArgumentException("partition " + p + " has " + c.length + " cuts for " + windows + " windows");
      }
    });
    this.deadLettered = new TreeMap<>();
    deadLettered.forEach((p, offsets) -> {
      long[] sorted = offsets.clone();
      Arrays.sort(sorted);
      this.deadLettered.put(p, sorted);
    });
  }

  /** The first window this run counts; every window before it was settled by an earlier run. */
  public long settledFrom() {
    return settledFrom;
  }

  /** Windows of [settledFrom, settledTo) are counted for the last time by this run. */
  public long settledTo() {
    return settledTo;
  }

  /** Windows of [settledTo, countTo) are counted early. */
  public long countTo() {
    return countTo;
  }

  public int windows() {
    return (int) ((countTo - settledFrom) / windowSizeMillis);
  }

  /** Whether this run judges the rejections at {@code offset} of {@code partition}. */
  public boolean owns(int partition, long offset) {
    long[] range = owned.get(partition);
    return range != null && offset >= range[0] && offset < range[1];
  }

  /** Whether an earlier attempt of this run already dead-lettered the record at {@code offset}. */
  public boolean alreadyDeadLettered(int partition, long offset) {
    long[] offsets = deadLettered.get(partition);
    return offsets != null && Arrays.binarySearch(offsets, offset) >= 0;
  }

  /** Whether a click of the window starting at {@code windowStart} (a counted one) lies before its window's cut. */
  public boolean beforeCut(long windowStart, int partition, long offset) {
    long[] c = cuts.get(partition);
    if (c == null || windowStart < settledFrom || windowStart >= countTo) {
      return false;
    }
    return offset < c[(int) ((windowStart - settledFrom) / windowSizeMillis)];
  }

  /** The number of offsets already dead-lettered, for the log. */
  public int alreadyDeadLetteredCount() {
    return deadLettered.values().stream().mapToInt(o -> o.length).sum();
  }

  @Override
  public String toString() {
    StringBuilder ownedText = new StringBuilder();
    owned.forEach((p, r) -> ownedText.append(ownedText.length() == 0 ? "" : ", ").append(p).append(": [")
        .append(r[0]).append(", ").append(r[1]).append(')'));
    return "settling [" + new org.joda.time.Instant(settledFrom) + ", " + new org.joda.time.Instant(settledTo)
        + "), early to " + new org.joda.time.Instant(countTo) + ", owning offsets {" + ownedText + "}"
        + (deadLettered.isEmpty() ? "" : ", " + alreadyDeadLetteredCount() + " of them already dead-lettered");
  }
}
