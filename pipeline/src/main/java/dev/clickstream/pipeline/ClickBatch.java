package dev.clickstream.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.DefaultCoder;
import org.apache.beam.sdk.coders.ListCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Instant;

/**
 * What a reader made of a run of Kafka records: the clicks counted per (product, window), the dead letters, and how
 * many records went which way. Counting inside the reader is the first half of {@code Count.perKey} (a combiner's
 * add-input, which runners that lift combiners do before the shuffle and the DirectRunner does not): one batch of
 * thousands of records becomes a few hundred partial counts, and the per-element cost of the runner is paid per
 * partial count instead of per click (issue 6). {@link UnpackBatches} turns batches back into elements.
 *
 * <p>Cell {@code i} is product {@code products[i]} in the window starting at {@code windowStarts[i]}, with
 * {@code clicks[i]} clicks.
 */
@DefaultCoder(ClickBatch.ClickBatchCoder.class)
public record ClickBatch(long[] products, long[] windowStarts, long[] clicks, List<DeadLetter> deadLetters, long read,
    long counted, long malformed, long tooLate, long outsideInterval) {

  public int cells() {
    return products.length;
  }

  /**
   * The batch's element timestamp: the earliest window start among its cells, so that every partial count can be
   * given its window's start (Beam lets a DoFn move timestamps forward only); a batch of dead letters alone takes its
   * first record's Kafka timestamp.
   */
  public Instant timestamp() {
    long min = Long.MAX_VALUE;
    for (long start : windowStarts) {
      min = Math.min(min, start);
    }
    if (min == Long.MAX_VALUE) {
      min = deadLetters.isEmpty() ? BoundedWindow.TIMESTAMP_MIN_VALUE.getMillis()
          : deadLetters.get(0).kafkaTimestampMillis();
    }
    // A producer may stamp a record with any long: kept within the instants Beam accepts.
    return new Instant(Math.min(Math.max(min, BoundedWindow.TIMESTAMP_MIN_VALUE.getMillis()),
        BoundedWindow.TIMESTAMP_MAX_VALUE.getMillis()));
  }

  /** Judges records one at a time and gathers them into batches. Not thread-safe: one per reader. */
  static final class Builder {
    private final ClickRules rules;
    private final Map<Cell, long[]> cells = new HashMap<>();
    private List<DeadLetter> deadLetters = new ArrayList<>();
    private long read;
    private long counted;
    private long malformed;
    private long tooLate;
    private long outsideInterval;
    private long deadLetterBytes;

    private record Cell(long productId, long windowStart) {}

    Builder(ClickRules rules) {
      this.rules = rules;
    }

    /**
     * Judges one record: counts its click, keeps its dead letter, or only notes it. Returns the click's event time
     * when it was counted, else Long.MIN_VALUE (a continuous reader's watermark follows the counted clicks).
     */
    long add(byte @Nullable [] key, byte @Nullable [] value, String topic, int partition, long offset,
        long kafkaTimestamp) {
      read++;
      ClickRules.Verdict verdict = rules.judge(value, kafkaTimestamp);
      switch (verdict.kind()) {
        case COUNT -> {
          counted++;
          Click click = verdict.click();
          cells.computeIfAbsent(new Cell(click.productId(), rules.windowStart(click.eventTimeMillis())),
              k -> new long[1])[0]++;
          return click.eventTimeMillis();
        }
        case MALFORMED, TOO_LATE -> {
          if (verdict.kind() == ClickRules.Kind.MALFORMED) {
            malformed++;
          } else {
            tooLate++;
          }
          deadLetters.add(new DeadLetter(key, value, verdict.reason(), verdict.detail(), topic, partition, offset,
              kafkaTimestamp));
          deadLetterBytes += (key == null ? 0 : key.length) + (value == null ? 0 : value.length) + 64;
        }
        case OUTSIDE_INTERVAL -> outsideInterval++;
        case NOT_OWNED -> { }
      }
      return Long.MIN_VALUE;
    }

    boolean isEmpty() {
      return read == 0;
    }

    /** About how many bytes the batch being built holds: its cells and its dead letters' keys and values. */
    long bytes() {
      return cells.size() * 48L + deadLetterBytes;
    }

    /** The batch of everything added since the last call; the builder starts afresh. */
    ClickBatch build() {
      int n = cells.size();
      long[] products = new long[n];
      long[] windowStarts = new long[n];
      long[] clicks = new long[n];
      int i = 0;
      for (Map.Entry<Cell, long[]> e : cells.entrySet()) {
        products[i] = e.getKey().productId();
        windowStarts[i] = e.getKey().windowStart();
        clicks[i] = e.getValue()[0];
        i++;
      }
      ClickBatch batch = new ClickBatch(products, windowStarts, clicks, deadLetters, read, counted, malformed,
          tooLate, outsideInterval);
      cells.clear();
      deadLetters = new ArrayList<>();
      read = counted = malformed = tooLate = outsideInterval = deadLetterBytes = 0;
      return batch;
    }
  }

  public static final class ClickBatchCoder extends AtomicCoder<ClickBatch> {
    private static final VarLongCoder LONG = VarLongCoder.of();
    private static final ListCoder<DeadLetter> DEAD_LETTERS = ListCoder.of(DeadLetter.DeadLetterCoder.of());

    public static ClickBatchCoder of() {
      return new ClickBatchCoder();
    }

    @Override
    public void encode(ClickBatch b, OutputStream out) throws IOException {
      VarIntCoder.of().encode(b.cells(), out);
      for (int i = 0; i < b.cells(); i++) {
        LONG.encode(b.products()[i], out);
        LONG.encode(b.windowStarts()[i], out);
        LONG.encode(b.clicks()[i], out);
      }
      DEAD_LETTERS.encode(b.deadLetters(), out);
      for (long n : new long[] {b.read(), b.counted(), b.malformed(), b.tooLate(), b.outsideInterval()}) {
        LONG.encode(n, out);
      }
    }

    @Override
    public ClickBatch decode(InputStream in) throws IOException {
      int n = VarIntCoder.of().decode(in);
      long[] products = new long[n];
      long[] windowStarts = new long[n];
      long[] clicks = new long[n];
      for (int i = 0; i < n; i++) {
        products[i] = LONG.decode(in);
        windowStarts[i] = LONG.decode(in);
        clicks[i] = LONG.decode(in);
      }
      return new ClickBatch(products, windowStarts, clicks, DEAD_LETTERS.decode(in), LONG.decode(in),
          LONG.decode(in), LONG.decode(in), LONG.decode(in), LONG.decode(in));
    }

    @Override
    public void verifyDeterministic() {}
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ClickBatch b && java.util.Arrays.equals(products, b.products)
        && java.util.Arrays.equals(windowStarts, b.windowStarts) && java.util.Arrays.equals(clicks, b.clicks)
        && deadLetters.equals(b.deadLetters) && read == b.read && counted == b.counted && malformed == b.malformed
        && tooLate == b.tooLate && outsideInterval == b.outsideInterval;
  }

  @Override
  public int hashCode() {
    return java.util.Objects.hash(java.util.Arrays.hashCode(products), java.util.Arrays.hashCode(windowStarts),
        java.util.Arrays.hashCode(clicks), deadLetters, read);
  }
}
