package dev.clickstream.pipeline.launch;

import dev.clickstream.pipeline.admin.DeadLetterLedger;
import dev.clickstream.pipeline.admin.SettledMarks;
import dev.clickstream.pipeline.admin.TopicSnapshot;
import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.io.OffsetRange;
import dev.clickstream.pipeline.model.ClickParser;
import dev.clickstream.pipeline.model.Settlement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What one settling run ({@code --settle}) does, decided from the settled mark in ClickHouse and the topic's offsets
 * before the pipeline is built: which windows it settles, which it counts early, which offsets it owns, where each
 * window's cut lies in each partition ({@link Settlement}), and the whole offset ranges it reads.
 *
 * <p>The windows it settles start at the mark (a first run with no mark starts at {@code --from} and writes that
 * start as the mark at once, so that a failed first run leaves no gap) and end at {@code --to}, but no later than the
 * launcher's clock allows (a window's end + allowed lateness + maxOutOfOrderness + the delivery margin must have
 * passed) and no more than {@code --maxSettle} after the mark: a longer backlog is settled in chunks by the next runs,
 * each saying how far behind it is, and counts nothing early until it has caught up. Windows before the mark are never
 * counted again, so re-running an old interval changes nothing.
 *
 * @param settlement what the graph decides per record
 * @param ranges each partition's whole offset range to read
 * @param mark the mark to write when the run is done (null when it settles no window)
 * @param behindTo the end of the windows that could be settled now but are left to the next runs (= settledTo when
 *     none are)
 */
public record SettlePlan(Settlement settlement, List<OffsetRange> ranges, SettledMarks.@Nullable Mark mark,
    long behindTo) {
  private static final Logger LOG = LoggerFactory.getLogger(SettlePlan.class);

  /**
   * How far before a mark's time the dead letters of a later run's failed attempt may be stamped: they are stamped by
   * the clock of the machine that wrote them (a TaskManager), the mark by the launcher's. The dead-letter topic is read
   * from there on before every settling run, so this is also how much of it each run reads at least.
   */
  static final long CLOCK_SKEW_MILLIS = 60_000;

  /** Nothing to count: every window the run was asked for is settled already. */
  public boolean empty() {
    return settlement.countTo() == settlement.settledFrom();
  }

  public static SettlePlan plan(Settings s, long nowMillis) {
    Settings.Settle limits = s.settle();
    if (limits == null) {
      throw new IllegalArgumentException("not a settling run");
    }
    long window = s.windowSize().getMillis();
    long lateness = s.allowedLateness().getMillis();
    long disorder = s.maxOutOfOrderness().getMillis();
    long ripe = Math.floorDiv(nowMillis - lateness - disorder - limits.deliveryMargin().getMillis(), window) * window;
    long target = Math.min(s.interval().toMillis(), ripe);
    try (TopicSnapshot topic = TopicSnapshot.of(s.kafka(), s.inputTopic())) {
      SettledMarks.Mark previous = SettledMarks.latest(s);
      long settledFrom;
      Map<Integer, Long> ownedFrom;
      if (previous == null) {
        settledFrom = s.interval().fromMillis();
        ownedFrom = topic.offsetsAt(settledFrom);
        SettledMarks.write(s, new SettledMarks.Mark(settledFrom, settledFrom, ownedFrom, nowMillis));
        LOG.info("no settled mark for {} in {} yet: settling from {} on (written as the mark)", s.inputTopic(),
            SettledMarks.table(s), new Instant(settledFrom));
      } else {
        settledFrom = previous.settledTo();
        ownedFrom = new TreeMap<>();
        for (int p : topic.partitions()) {
          long from = previous.cuts().getOrDefault(p, 0L); // a partition added since: all of it is new
          if (from > topic.end(p)) {
            long restart = topic.offsetsAt(settledFrom).get(p);
            LOG.warn("partition {} of {} ends at offset {}, before the settled mark's cut {}: the topic was made"
                + " anew? Judging it from offset {} on", p, s.inputTopic(), topic.end(p), from, restart);
            from = restart;
          }
          ownedFrom.put(p, from);
        }
      }
      long settledTo = Math.max(settledFrom, Math.min(target, settledFrom + limits.maxSettle().getMillis()));
      long behindTo = Math.max(settledTo, target);
      long countTo = behindTo > settledTo ? settledTo
          : Math.max(settledTo, s.countInterval().toMillis());
      int windows = (int) ((countTo - settledFrom) / window);

      // Each window's cut: the first record stamped past its deadline by more than maxOutOfOrderness.
      Map<Integer, long[]> cuts = new TreeMap<>();
      topic.partitions().forEach(p -> cuts.put(p, new long[windows]));
      for (int w = 0; w < windows; w++) {
        long windowEnd = settledFrom + (w + 1) * window;
        Map<Integer, Long> at = topic.offsetsAt(windowEnd + lateness + disorder + 1);
        for (int p : topic.partitions()) {
          cuts.get(p)[w] = at.get(p);
        }
      }
      Map<Integer, Long> ownedTo = settledTo == settledFrom ? ownedFrom
          : topic.offsetsAt(settledTo + lateness + disorder + 1);
      Map<Integer, long[]> owned = new TreeMap<>();
      for (int p : topic.partitions()) {
        long from = ownedFrom.get(p);
        long to = Math.max(from, ownedTo.get(p));
        if (from < to) {
          owned.put(p, new long[] {from, to});
        }
      }
      Map<Integer, long[]> deadLettered = previous == null || owned.isEmpty() ? Map.of()
          : DeadLetterLedger.alreadyWritten(s.kafka(), s.deadLetterTopic(), s.inputTopic(),
              previous.writtenAtMillis() - CLOCK_SKEW_MILLIS, owned);
      Settlement settlement = new Settlement(settledFrom, settledTo, countTo, window, owned, cuts, deadLettered);
      List<OffsetRange> ranges = windows == 0 ? List.of()
          : ranges(s, topic, settledFrom, countTo, owned);
      SettledMarks.Mark mark = settledTo == settledFrom ? null
          : new SettledMarks.Mark(settledFrom, settledTo, ownedTo, nowMillis);
      if (behindTo > settledTo) {
        LOG.warn("behind: the windows of [{}, {}) are ripe but unsettled; this run settles [{}, {}) (--maxSettle {})"
            + " and counts nothing early, the next runs settle the rest", new Instant(settledFrom),
            new Instant(behindTo), new Instant(settledFrom), new Instant(settledTo), limits.maxSettle());
      }
      LOG.info("{}", settlement);
      return new SettlePlan(settlement, ranges, mark, behindTo);
    }
  }

  /**
   * Per partition, the offsets to read: the records whose Kafka timestamps can matter to the counted windows
   * (from the first window's start minus the future skew a click may have, to the last window's deadline plus
   * maxOutOfOrderness), and every offset the run owns, which may start earlier (records that reached the topic late,
   * stamped long before). A range starts where a Kafka timestamp starts, as KafkaIO's reads start.
   */
  private static List<OffsetRange> ranges(Settings s, TopicSnapshot topic, long countFrom, long countTo,
      Map<Integer, long[]> owned) {
    long readFrom = countFrom - ClickParser.MAX_FUTURE_SKEW_MILLIS;
    long readTo = countTo + s.allowedLateness().getMillis() + s.maxOutOfOrderness().getMillis() + 1;
    Map<Integer, Long> starts = topic.offsetsAt(readFrom);
    Map<Integer, Long> stops = topic.offsetsAt(readTo);
    List<OffsetRange> ranges = new ArrayList<>();
    for (int p : topic.partitions()) {
      long start = starts.get(p);
      long fromMillis = readFrom;
      long stop = stops.get(p);
      long[] own = owned.get(p);
      if (own != null && own[0] < start) {
        fromMillis = topic.timestampAt(p, own[0]);
        start = Math.min(own[0], topic.offsetsAt(fromMillis).get(p));
      }
      if (own != null) {
        stop = Math.max(stop, own[1]);
      }
      if (start < stop) {
        ranges.add(new OffsetRange(topic.topic(), p, start, stop, fromMillis));
      }
    }
    return ranges;
  }
}
