package dev.clickstream.pipeline.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.coders.DefaultCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * A rejected record: its original key and value bytes, untouched, and why and where from. In the dead-letter
 * topic the value is the original bytes and the rest travels in headers ({@code dlq.reason}, {@code dlq.detail},
 * {@code dlq.source.topic}, {@code dlq.source.partition}, {@code dlq.source.offset}, {@code dlq.source.timestamp}), so a
 * fixed record can be replayed as it is.
 */
@DefaultCoder(DeadLetter.DeadLetterCoder.class)
public record DeadLetter(byte @Nullable [] key, byte @Nullable [] value, String reason, String detail, String topic,
    int partition, long offset, long kafkaTimestampMillis) {

  public static final String REASON_HEADER = "dlq.reason";
  public static final String DETAIL_HEADER = "dlq.detail";
  public static final String SOURCE_TOPIC_HEADER = "dlq.source.topic";
  public static final String SOURCE_PARTITION_HEADER = "dlq.source.partition";
  public static final String SOURCE_OFFSET_HEADER = "dlq.source.offset";

  public ProducerRecord<byte[], byte[]> toProducerRecord(String deadLetterTopic) {
    RecordHeaders headers = new RecordHeaders();
    headers.add(REASON_HEADER, reason.getBytes(StandardCharsets.UTF_8));
    headers.add(DETAIL_HEADER, detail.getBytes(StandardCharsets.UTF_8));
    headers.add(SOURCE_TOPIC_HEADER, topic.getBytes(StandardCharsets.UTF_8));
    headers.add(SOURCE_PARTITION_HEADER, Integer.toString(partition).getBytes(StandardCharsets.UTF_8));
    headers.add(SOURCE_OFFSET_HEADER, Long.toString(offset).getBytes(StandardCharsets.UTF_8));
    headers.add("dlq.source.timestamp", Long.toString(kafkaTimestampMillis).getBytes(StandardCharsets.UTF_8));
    // Stamped when dead-lettered: the original timestamp may be one the dead-letter topic refuses (too far ahead).
    return new ProducerRecord<>(deadLetterTopic, null, null, key, value, headers);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof DeadLetter d && Arrays.equals(key, d.key) && Arrays.equals(value, d.value)
        && reason.equals(d.reason) && detail.equals(d.detail) && topic.equals(d.topic) && partition == d.partition
        && offset == d.offset && kafkaTimestampMillis == d.kafkaTimestampMillis;
  }

  @Override
  public int hashCode() {
    return Objects.hash(Arrays.hashCode(key), Arrays.hashCode(value), reason, topic, partition, offset);
  }

  @Override
  public String toString() {
    String text = value == null ? "null" : new String(value, StandardCharsets.UTF_8);
    return "DeadLetter[" + reason + " (" + detail + ") " + topic + "/" + partition + "@" + offset + ": "
        + (text.length() > 80 ? text.substring(0, 80) + "..." : text) + "]";
  }

  /** Deterministic coder; the value may be up to the broker's message size. */
  public static final class DeadLetterCoder extends AtomicCoder<DeadLetter> {
    private static final NullableCoder<byte[]> BYTES = NullableCoder.of(ByteArrayCoder.of());
    private static final StringUtf8Coder STRING = StringUtf8Coder.of();

    public static DeadLetterCoder of() {
      return new DeadLetterCoder();
    }

    @Override
    public void encode(DeadLetter d, OutputStream out) throws IOException {
      BYTES.encode(d.key(), out);
      BYTES.encode(d.value(), out);
      STRING.encode(d.reason(), out);
      STRING.encode(d.detail(), out);
      STRING.encode(d.topic(), out);
      VarIntCoder.of().encode(d.partition(), out);
      VarLongCoder.of().encode(d.offset(), out);
      VarLongCoder.of().encode(d.kafkaTimestampMillis(), out);
    }

    @Override
    public DeadLetter decode(InputStream in) throws IOException {
      return new DeadLetter(BYTES.decode(in), BYTES.decode(in), STRING.decode(in), STRING.decode(in),
          STRING.decode(in), VarIntCoder.of().decode(in), VarLongCoder.of().decode(in), VarLongCoder.of().decode(in));
    }

    @Override
    public void verifyDeterministic() {}
  }
}
