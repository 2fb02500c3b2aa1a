package dev.clickstream.pipeline.io;

import java.util.Optional;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.io.kafka.KafkaTimestampType;
import org.apache.beam.sdk.io.kafka.TimestampPolicy;
import org.joda.time.Duration;
import org.joda.time.Instant;
import org.junit.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;

/** How the read stamps each record of a partition, in offset order. */
public class ArrivalTimePolicyTest {
  private static final long T0 = 1_795_687_200_000L;
  private static final Duration DISORDER = Duration.standardSeconds(5);

  /** A partition with a backlog: the watermark follows its records, not the clock. */
  private static final TimestampPolicy.PartitionContext BUSY = new TimestampPolicy.PartitionContext() {
    @Override
    public long getMessageBacklog() {
      return 1000;
    }

    @Override
    public Instant getBacklogCheckTime() {
      return Instant.now();
    }
  };

  private static long stamp(ArrivalTimePolicy policy, long kafkaTimestamp) {
    return policy.getTimestampForRecord(BUSY, new KafkaRecord<>("clicks", 0, 0, kafkaTimestamp,
        KafkaTimestampType.CREATE_TIME, null, new byte[0], new byte[0])).getMillis();
  }

  // A continuous read: a record stamped three minutes behind what its partition already holds (a producer whose clock
  // is behind) leaves the read at what the partition already held, less the disorder allowed, to be judged by that.
  @Test
  public void aContinuousReadRaisesARecordBehindTheWatermarkToIt() {
    ArrivalTimePolicy policy = new ArrivalTimePolicy(DISORDER, true, Optional.empty());
    assertThat(stamp(policy, T0), equalTo(T0));
    assertThat(stamp(policy, T0 + 180_000), equalTo(T0 + 180_000));
    assertThat(stamp(policy, T0 + 178_000), equalTo(T0 + 178_000)); // within maxOutOfOrderness: its own time
    assertThat(stamp(policy, T0 + 1_000), equalTo(T0 + 175_000));
    assertThat(policy.getWatermark(BUSY).getMillis(), equalTo(T0 + 175_000));
  }

  // A continuous read of a partition that was idle (nothing left to read at KafkaIO's last backlog check), as when the
  // broker was restarted: its watermark moved on with no record to show for it. Records a producer buffered through
  // the outage come behind that watermark with their own times; they keep them (Beam's grace keeps their windows),
  // unless they are more than the tolerance behind.
  @Test
  public void aRecordBehindAnIdlePartitionsWatermarkKeepsItsTimeWithinTheTolerance() {
    long now = System.currentTimeMillis();
    TimestampPolicy.PartitionContext idle = new TimestampPolicy.PartitionContext() {
      @Override
      public long getMessageBacklog() {
        return 0;
      }

      @Override
      public Instant getBacklogCheckTime() {
        return new Instant(now);
      }
    };
    ArrivalTimePolicy policy = new ArrivalTimePolicy(DISORDER, true, Optional.empty());
    assertThat(stamp(policy, now - 600_000), equalTo(now - 600_000)); // then ten quiet minutes
    assertThat(policy.getWatermark(idle).getMillis(), equalTo(now - 5_000));
    long tolerance = ArrivalTimePolicy.IDLE_TOLERANCE.getMillis();
    assertThat(tolerance, equalTo(240_000L));
    // Buffered for more than the tolerance: raised to it, to be judged window_closed by its window's deadline.
    assertThat(stamp(policy, now - 590_000), equalTo(now - 5_000 - tolerance));
    // Buffered for less: its own time.
    assertThat(stamp(policy, now - 200_000), equalTo(now - 200_000));
  }

  // A bounded read keeps every record's Kafka timestamp: it fires each window once, after all of its input.
  @Test
  public void aBoundedReadKeepsKafkaTimestamps() {
    ArrivalTimePolicy policy = new ArrivalTimePolicy(DISORDER, false, Optional.empty());
    stamp(policy, T0 + 180_000);
    assertThat(stamp(policy, T0 + 1_000), equalTo(T0 + 1_000));
  }
}
