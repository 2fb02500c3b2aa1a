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
  // is behind) leaves the read at the partition's watermark, not behind it, where Beam would drop it unseen.
  @Test
  public void aContinuousReadRaisesARecordBehindTheWatermarkToIt() {
    ArrivalTimePolicy policy = new ArrivalTimePolicy(DISORDER, true, Optional.empty());
    assertThat(stamp(policy, T0), equalTo(T0));
    assertThat(stamp(policy, T0 + 180_000), equalTo(T0 + 180_000));
    assertThat(stamp(policy, T0 + 178_000), equalTo(T0 + 178_000)); // within maxOutOfOrderness: its own time
    assertThat(stamp(policy, T0 + 1_000), equalTo(T0 + 175_000));
    assertThat(policy.getWatermark(BUSY).getMillis(), equalTo(T0 + 175_000));
  }

  // A bounded read keeps every record's Kafka timestamp: it fires each window once, after all of its input.
  @Test
  public void aBoundedReadKeepsKafkaTimestamps() {
    ArrivalTimePolicy policy = new ArrivalTimePolicy(DISORDER, false, Optional.empty());
    stamp(policy, T0 + 180_000);
    assertThat(stamp(policy, T0 + 1_000), equalTo(T0 + 1_000));
  }
}
