package dev.clickstream.pipeline;

import java.util.Optional;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.io.kafka.TimestampPolicy;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.joda.time.Duration;
import org.joda.time.Instant;

/**
 * Event time and watermark of one Kafka partition in a continuous run. A record's timestamp is its click's event
 * time (a record that is not a click keeps its Kafka timestamp: it only goes to the dead-letter topic). The watermark
 * trails the newest event time seen by {@code maxOutOfOrderness}. When the partition has no backlog it is idle, and
 * its watermark follows the wall clock (minus {@code maxOutOfOrderness}) so that it never holds the pipeline's
 * watermark back, including a partition that has never held a record. Unlike KafkaIO's
 * CustomTimestampPolicyWithLimitedDelay, which waits for a first record.
 */
final class ClickTimestampPolicy extends TimestampPolicy<byte[], byte[]> {
  private final Duration maxOutOfOrderness;
  private Instant maxEventTime;
  private Instant lastWatermark;

  ClickTimestampPolicy(Duration maxOutOfOrderness, Optional<Instant> previousWatermark) {
    this.maxOutOfOrderness = maxOutOfOrderness;
    this.lastWatermark = previousWatermark.orElse(BoundedWindow.TIMESTAMP_MIN_VALUE);
    this.maxEventTime = lastWatermark.plus(maxOutOfOrderness);
  }

  @Override
  public Instant getTimestampForRecord(PartitionContext ctx, KafkaRecord<byte[], byte[]> record) {
    Click click = ClickParser.parse(record.getKV().getValue(), record.getTimestamp()).click();
    Instant ts = new Instant(click != null ? click.eventTimeMillis() : record.getTimestamp());
    if (click != null && ts.isAfter(maxEventTime)) {
      maxEventTime = ts;
    }
    return ts;
  }

  @Override
  public Instant getWatermark(PartitionContext ctx) {
    Instant candidate = maxEventTime.minus(maxOutOfOrderness);
    if (ctx.getMessageBacklog() == 0) {
      Instant idle = ctx.getBacklogCheckTime().minus(maxOutOfOrderness);
      if (idle.isAfter(candidate)) {
        candidate = idle;
      }
    }
    Instant now = Instant.now().minus(maxOutOfOrderness);
    if (candidate.isAfter(now)) {
      candidate = now; // a click stamped in the future must not close windows early
    }
    if (candidate.isAfter(lastWatermark)) {
      lastWatermark = candidate;
    }
    return lastWatermark;
  }
}
