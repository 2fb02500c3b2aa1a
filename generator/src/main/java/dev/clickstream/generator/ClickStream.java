package dev.clickstream.generator;

import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.PriorityQueue;
import java.util.SplittableRandom;

/**
 * The deterministic sequence of records a {@link GeneratorConfig} describes, in arrival order (the order a real
 * broker would see them, so Kafka timestamps never go backwards within the stream). The same config and seed give
 * the same records, byte for byte.
 */
public final class ClickStream implements Iterator<ClickStream.Record> {

  /** What a record is, for the oracle; the pipeline only sees the bytes. */
  public enum Kind { ON_TIME, LATE, MALFORMED }

  /**
   * One Kafka record to send. {@code productId} and {@code eventTimeMillis} are meaningful for clicks only;
   * {@code arrivalMillis} becomes the Kafka record timestamp.
   */
  public record Record(Kind kind, long productId, long eventTimeMillis, long arrivalMillis, byte[] key, byte[] value) {}

  private final GeneratorConfig config;
  private final SplittableRandom random;
  private final ProductPopularity popularity;
  private final long total;
  /** Records generated but not yet due: a late click waits here until the stream reaches its arrival time. */
  private final PriorityQueue<Pending> pending = new PriorityQueue<>();
  private long nextIndex;

  private record Pending(Record record, long sequence) implements Comparable<Pending> {
    @Override
    public int compareTo(Pending o) {
      int c = Long.compare(record.arrivalMillis(), o.record.arrivalMillis());
      return c != 0 ? c : Long.compare(sequence, o.sequence);
    }
  }

  public ClickStream(GeneratorConfig config) {
    this.config = config;
    this.random = new SplittableRandom(config.seed());
    this.popularity = new ProductPopularity(config.products(), config.zipfExponent());
    this.total = config.eventCount();
  }

  public long total() {
    return total;
  }

  @Override
  public boolean hasNext() {
    return !pending.isEmpty() || nextIndex < total;
  }

  @Override
  public Record next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    // Every record not yet generated arrives at or after its own event time, which is at least the next event
    // time: whatever pending record is due before that can go out now, in order.
    while (nextIndex < total
        && (pending.isEmpty() || pending.peek().record.arrivalMillis() > config.eventTimeMillis(nextIndex))) {
      pending.add(new Pending(generate(nextIndex), nextIndex));
      nextIndex++;
    }
    return pending.poll().record;
  }

  private Record generate(long index) {
    long eventTime = config.eventTimeMillis(index);
    double roll = random.nextDouble();
    long productId = popularity.sample(random);
    long userId = 1 + random.nextInt(config.users());
    long jitter = config.arrivalJitter().toMillis() == 0 ? 0 : random.nextLong(config.arrivalJitter().toMillis() + 1);
    byte[] key = Long.toString(userId).getBytes(StandardCharsets.UTF_8);
    if (roll < config.malformedFraction()) {
      // A broken record has no trustworthy event time: it "arrives" at its slot's time, inside the interval.
      return new Record(Kind.MALFORMED, productId, eventTime, eventTime, key,
          MalformedClicks.make(random.nextInt(MalformedClicks.KINDS), productId, userId, eventTime));
    }
    boolean late = roll < config.malformedFraction() + config.lateFraction();
    long arrival = eventTime + jitter + (late ? config.lateDelay().toMillis() : 0);
    return new Record(late ? Kind.LATE : Kind.ON_TIME, productId, eventTime, arrival, key,
        json(productId, userId, eventTime));
  }

  static byte[] json(long productId, long userId, long eventTime) {
    return ("{\"product_id\":" + productId + ",\"user_id\":" + userId + ",\"timestamp\":" + eventTime + "}")
        .getBytes(StandardCharsets.UTF_8);
  }
}
