package dev.clickstream.pipeline.model;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;

/**
 * A settling run's rules ({@link Settlement}, {@link ClickRules#settling}): which records it counts, which it
 * dead-letters and which it leaves to other runs, decided by partition and offset as well as by Kafka timestamp.
 *
 * <p>The run below settles the minute [1:00, 2:00) and counts [2:00, 3:00) early; the minute [0:00, 1:00) was settled
 * before it. Partition 0: it owns offsets [100, 200); each window's cut (the first record stamped past its deadline
 * by more than maxOutOfOrderness) is at offset 150 for [1:00, 2:00) and at 300 for [2:00, 3:00).
 */
public class SettlementTest {
  private static final long MINUTE = 60_000;
  private static final long T0 = 1_795_687_200_000L; // a whole hour
  private static final ClickRules RULES = ClickRules.settling(MINUTE, MINUTE, new Settlement(T0 + MINUTE,
      T0 + 2 * MINUTE, T0 + 3 * MINUTE, MINUTE, Map.of(0, new long[] {100, 200}),
      Map.of(0, new long[] {150, 300}), Map.of(0, new long[] {120})));

  private static ClickRules.Kind judge(String value, long offset, long arrival) {
    return RULES.judge(value.getBytes(StandardCharsets.UTF_8), 0, offset, arrival, arrival).kind();
  }

  private static String click(long eventTime) {
    return "{\"product_id\":1,\"user_id\":2,\"timestamp\":" + eventTime + "}";
  }

  // A click of the minute being settled, before its cut: counted, whoever owns its offset.
  @Test
  public void aClickBeforeItsWindowsCutCounts() {
    assertThat(judge(click(T0 + 70_000), 90, T0 + 70_000), equalTo(ClickRules.Kind.COUNT));
    assertThat(judge(click(T0 + 70_000), 149, T0 + 110_000), equalTo(ClickRules.Kind.COUNT));
  }

  // In time by its own Kafka timestamp, but behind a record stamped past its window's deadline: window_closed, by the
  // run that owns its offset; a later run owns offset 250 and will say so.
  @Test
  public void aClickPastItsWindowsCutIsWindowClosedByItsOwner() {
    ClickRules.Verdict verdict = RULES.judge(click(T0 + 70_000).getBytes(StandardCharsets.UTF_8), 0, 160,
        T0 + 75_000, T0 + 75_000);
    assertThat(verdict.kind(), equalTo(ClickRules.Kind.WINDOW_CLOSED));
    assertThat(verdict.reason(), equalTo("window_closed"));
    assertThat(judge(click(T0 + 70_000), 250, T0 + 75_000), equalTo(ClickRules.Kind.NOT_OWNED));
  }

  // A minute settled by an earlier run is never counted again: a click of it that reached the topic since (an owned
  // offset) is window_closed, one the earlier run already judged (offset below the owned range) is left alone.
  @Test
  public void aClickOfAnAlreadySettledMinuteIsNeverCountedAgain() {
    assertThat(judge(click(T0 + 10_000), 110, T0 + 20_000), equalTo(ClickRules.Kind.WINDOW_CLOSED));
    assertThat(judge(click(T0 + 10_000), 50, T0 + 20_000), equalTo(ClickRules.Kind.NOT_OWNED));
  }

  // The early minute counts its clicks before its own cut; a minute after it is another run's.
  @Test
  public void theEarlyMinuteCountsAndLaterOnesAreOutside() {
    assertThat(judge(click(T0 + 130_000), 250, T0 + 130_000), equalTo(ClickRules.Kind.COUNT));
    assertThat(judge(click(T0 + 200_000), 190, T0 + 200_000), equalTo(ClickRules.Kind.OUTSIDE_INTERVAL));
  }

  // Rejections are dead-lettered by the run that owns their offset, whatever their Kafka timestamp, and not again
  // when an earlier attempt of the run already wrote them.
  @Test
  public void rejectionsBelongToTheOwnerOfTheirOffsetAndAreWrittenOnce() {
    assertThat(judge("not json", 105, T0), equalTo(ClickRules.Kind.MALFORMED));
    assertThat(judge("not json", 205, T0 + 70_000), equalTo(ClickRules.Kind.NOT_OWNED));
    assertThat(judge(click(T0 + 70_000), 110, T0 + 190_000), equalTo(ClickRules.Kind.TOO_LATE));
    assertThat(judge("not json", 120, T0 + 70_000), equalTo(ClickRules.Kind.ALREADY_DEAD_LETTERED));
  }

  // A continuous run sees a closed window by the time the read gave the record: its Kafka timestamp, or what its
  // partition already held when that was later (a producer whose clock is behind).
  @Test
  public void aContinuousRunClosesAWindowByTheRecordsReadTime() {
    ClickRules continuous = new ClickRules(MINUTE, MINUTE, null).closingByReadTime();
    byte[] late = click(T0 + 10_000).getBytes(StandardCharsets.UTF_8);
    assertThat(continuous.judge(late, 0, 1, T0 + 30_000, T0 + 30_000).kind(), equalTo(ClickRules.Kind.COUNT));
    assertThat(continuous.judge(late, 0, 1, T0 + 30_000, T0 + 2 * MINUTE).kind(), equalTo(ClickRules.Kind.COUNT));
    assertThat(continuous.judge(late, 0, 1, T0 + 30_000, T0 + 2 * MINUTE + 1).kind(),
        equalTo(ClickRules.Kind.WINDOW_CLOSED));
  }
}
