package org.apache.beam.sdk.io.kafka;

/**
 * KafkaIO's splittable reader over given source descriptors, marked bounded. KafkaIO builds that read for its own
 * {@code withStopReadTime}, but in Beam 2.71 {@link KafkaIO.ReadSourceDescriptors#withBounded()} is package-private,
 * and a stop time cannot say where a bounded run ends: past the log's last record Kafka has no offset for it and the
 * read fails. Descriptors with exact stop offsets say it; marked bounded, the read's output is a bounded collection, so
 * Flink translates the run as a batch job with one source. This class lives in KafkaIO's package for that one call;
 * a Beam upgrade that changes it breaks the build, not a run.
 */
public final class BoundedSourceDescriptors {
  private BoundedSourceDescriptors() {}

  /** {@code read}, reading each descriptor's offsets to its stop offset and then finishing. */
  public static <K, V> KafkaIO.ReadSourceDescriptors<K, V> bounded(KafkaIO.ReadSourceDescriptors<K, V> read) {
    return read.withBounded();
  }
}
