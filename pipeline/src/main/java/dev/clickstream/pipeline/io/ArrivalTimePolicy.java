package dev.clickstream.pipeline.io;

import dev.clickstream.pipeline.model.ClickRules;
import java.util.Optional;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.io.kafka.TimestampPolicy;
import org.apache.beam.sdk.io.kafka.TimestampPolicyFactory;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.kafka.common.TopicPartition;
import org.joda.time.Duration;
import org.joda.time.Instant;

/**
 * KafkaIO's timestamp policy for the clicks topic, one per partition: each record is stamped with its Kafka timestamp
 * (its arrival; {@code JudgeClicks} re-stamps a counted click with its event time, parsing it once), and the
 * partition's watermark is the newest arrival minus {@code maxOutOfOrderness}.
 *
 * <p>In a continuous run ({@code raiseToWatermark}) a record whose Kafka timestamp is behind what its partition already
 * held (a producer whose clock is behind the others') is stamped with the newest record's time less {@code
 * maxOutOfOrderness} instead, and {@code JudgeClicks} dead-letters the clicks whose window had closed by then ({@code
 * window_closed}). A record behind a watermark that moved on while the partition was idle (one a producer buffered
 * through a broker outage) keeps its time unless it is more than {@link #IDLE_TOLERANCE} behind: Beam keeps each
 * window {@link ClickRules#WATERMARK_GRACE} longer than the lateness, so none that is counted is dropped
 * unseen. A policy restored from a checkpoint knows only the watermark, not what the partition held: until it reads
 * a newer record there, only the tolerance applies. A bounded run keeps the Kafka timestamps: it fires every window
 * once, after all its input.
 *
 * <p>A partition with no backlog moves its watermark on to the time of KafkaIO's last backlog check minus {@code
 * maxOutOfOrderness}, as KafkaIO's own {@code CustomTimestampPolicyWithLimitedDelay} does, but also when it has never
 * held a record, so an empty or quiet partition never holds the pipeline back; and the watermark never runs ahead of
 * the wall clock minus {@code maxOutOfOrderness}, so a record stamped in the future cannot close windows early.
 * Either kind of Kafka timestamp (create or log-append) is taken; a timestamp outside Beam's range (a producer may send
 * any long) is clamped into it.
 */
public final class ArrivalTimePolicy extends TimestampPolicy<byte[], byte[]> {
  /**
   * How far behind an idle partition's watermark a record may come and still be counted: a minute less than Beam's
   * grace, for the time the click takes from the read to its window.
   */
  public static final Duration IDLE_TOLERANCE =
      ClickRules.WATERMARK_GRACE.minus(Duration.standardMinutes(1));
  private static final long IDLE_TOLERANCE_MILLIS = IDLE_TOLERANCE.getMillis();

  private final long maxOutOfOrdernessMillis;
  private final boolean raiseToWatermark;
  private long newestArrival;
  private long watermark;

  ArrivalTimePolicy(Duration maxOutOfOrderness, boolean raiseToWatermark, Optional<Instant> previousWatermark) {
    this.maxOutOfOrdernessMillis = maxOutOfOrderness.getMillis();
    this.raiseToWatermark = raiseToWatermark;
    this.watermark = previousWatermark.map(Instant::getMillis).orElse(BoundedWindow.TIMESTAMP_MIN_VALUE.getMillis());
    this.newestArrival = Long.MIN_VALUE;
  }

  /** A factory for KafkaIO's {@code withTimestampPolicyFactory}: one policy per partition, restored with its watermark. */
  static TimestampPolicyFactory<byte[], byte[]> factory(Duration maxOutOfOrderness, boolean raiseToWatermark) {
    return (TopicPartition tp, Optional<Instant> previousWatermark) ->
        new ArrivalTimePolicy(maxOutOfOrderness, raiseToWatermark, previousWatermark);
  }

  /** A Kafka timestamp as an instant Beam accepts. */
  public static long clamp(long millis) {
    return Math.min(Math.max(millis, BoundedWindow.TIMESTAMP_MIN_VALUE.getMillis()),
        BoundedWindow.TIMESTAMP_MAX_VALUE.getMillis());
  }

  @Override
  public Instant getTimestampForRecord(PartitionContext ctx, KafkaRecord<byte[], byte[]> record) {
    long arrival = clamp(record.getTimestamp());
    long stamp = arrival;
    if (raiseToWatermark) {
      // What the partition already held: its newest record, less the disorder it is allowed (not beyond the clock).
      long behindNewest = newestArrival == Long.MIN_VALUE ? Long.MIN_VALUE : newestArrival - maxOutOfOrdernessMillis;
      long held = Math.min(behindNewest, System.currentTimeMillis() - maxOutOfOrdernessMillis);
      // An idle partition's watermark moved on with no record to show for it: a record a producer buffered through a
      // broker outage comes behind it, and Beam's grace keeps its window for it. Only beyond the tolerance is it
      // raised far enough to be judged window_closed.
      long idle = watermark - IDLE_TOLERANCE_MILLIS;
      stamp = Math.max(arrival, Math.max(held, idle));
    }
    newestArrival = Math.max(newestArrival, arrival);
    return new Instant(stamp);
  }

  @Override
  public Instant getWatermark(PartitionContext ctx) {
    long clock = System.currentTimeMillis() - maxOutOfOrdernessMillis;
    long candidate = newestArrival == Long.MIN_VALUE ? Long.MIN_VALUE : newestArrival - maxOutOfOrdernessMillis;
    Instant checked = ctx.getBacklogCheckTime();
    if (ctx.getMessageBacklog() == 0 && checked != null) {
      // Idle: nothing was left to read when the backlog was last checked (KafkaIO does every second), so nothing
      // can arrive stamped before that check. Not the wall clock: while the broker cannot be reached the checks fail,
      // and records a producer buffered through the outage come later, stamped with their own times.
      candidate = Math.max(candidate, Math.min(checked.getMillis() - maxOutOfOrdernessMillis, clock));
    }
    watermark = Math.max(watermark, Math.min(candidate, clock));
    return new Instant(Math.max(watermark, BoundedWindow.TIMESTAMP_MIN_VALUE.getMillis()));
  }
}
