package dev.clickstream.generator;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.NoSuchElementException;
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
  /**
   * Records generated but not yet due, by arrival millisecond, each bucket in generation order: a late click waits
   * here until the stream reaches its arrival time. Buckets rather than a priority queue of records: the queue holds
   * every click of the late delay (180,000 at 10 M clicks a minute with 2% late by 30 s), and sifting through it
   * dominated the generator's time. The order is the same: by arrival, then by generation.
   */
  private final HashMap<Long, ArrayDeque<Record>> pending = new HashMap<>();
  private long pendingCount;
  /** The earliest arrival among the pending records, when there are any. */
  private long earliest = Long.MAX_VALUE;
  private long nextIndex;
  /** The event time of record {@code nextIndex}, computed once per record: the loop in {@link #next} asks often. */
  private long nextEventTime;

  /**
   * Digits made once and reused: a user's key (its id in decimal, also the JSON's user_id), a product's id, the
   * current event time (many clicks share a millisecond). The generator makes one JSON record per click, and
   * formatting numbers was a large part of its time.
   */
  private final byte[][] userKeys;
  private final byte[][] productDigits;
  private long lastEventTime = Long.MIN_VALUE;
  private byte[] lastEventTimeDigits = new byte[0];

  public ClickStream(GeneratorConfig config) {
    this.config = config;
    this.random = new SplittableRandom(config.seed());
    this.popularity = new ProductPopularity(config.products(), config.zipfExponent());
    this.total = config.eventCount();
    this.userKeys = new byte[config.users() + 1][];
    this.productDigits = new byte[config.products() + 1][];
    this.nextEventTime = total > 0 ? config.eventTimeMillis(0) : Long.MAX_VALUE;
  }

  public long total() {
    return total;
  }

  @Override
  public boolean hasNext() {
    return pendingCount > 0 || nextIndex < total;
  }

  @Override
  public Record next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    // Every record not yet generated arrives at or after its own event time, which is at least the next event
    // time: whatever pending record is due before that can go out now, in order.
    while (nextIndex < total && (pendingCount == 0 || earliest > nextEventTime)) {
      Record record = generate(nextEventTime);
      nextIndex++;
      nextEventTime = nextIndex < total ? config.eventTimeMillis(nextIndex) : Long.MAX_VALUE;
      pending.computeIfAbsent(record.arrivalMillis(), k -> new ArrayDeque<>()).add(record);
      pendingCount++;
      earliest = Math.min(earliest, record.arrivalMillis());
    }
    ArrayDeque<Record> bucket = pending.get(earliest);
    Record next = bucket.poll();
    pendingCount--;
    if (bucket.isEmpty()) {
      pending.remove(earliest);
      // Nothing pending arrives before the record just taken: the next bucket is found by stepping forward.
      if (pendingCount == 0) {
        earliest = Long.MAX_VALUE;
      } else {
        do {
          earliest++;
        } while (!pending.containsKey(earliest));
      }
    }
    return next;
  }

  private Record generate(long eventTime) {
    double roll = random.nextDouble();
    long productId = popularity.sample(random);
    long userId = 1 + random.nextInt(config.users());
    long jitter = config.arrivalJitter().toMillis() == 0 ? 0 : random.nextLong(config.arrivalJitter().toMillis() + 1);
    byte[] key = userKeys[(int) userId];
    if (key == null) {
      key = userKeys[(int) userId] = Long.toString(userId).getBytes(StandardCharsets.UTF_8);
    }
    if (roll < config.malformedFraction()) {
      // A broken record has no trustworthy event time: it "arrives" at its slot's time, inside the interval.
      return new Record(Kind.MALFORMED, productId, eventTime, eventTime, key,
          MalformedClicks.make(random.nextInt(MalformedClicks.KINDS), productId, userId, eventTime));
    }
    boolean late = roll < config.malformedFraction() + config.lateFraction();
    long arrival = eventTime + jitter + (late ? config.lateDelay().toMillis() : 0);
    if (eventTime != lastEventTime) {
      lastEventTime = eventTime;
      lastEventTimeDigits = Long.toString(eventTime).getBytes(StandardCharsets.US_ASCII);
    }
    byte[] product = productDigits[(int) productId];
    if (product == null) {
      product = productDigits[(int) productId] = Long.toString(productId).getBytes(StandardCharsets.US_ASCII);
    }
    return new Record(late ? Kind.LATE : Kind.ON_TIME, productId, eventTime, arrival, key,
        json(product, key, lastEventTimeDigits));
  }

  private static final byte[] PRODUCT_ID = "{\"product_id\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] USER_ID = ",\"user_id\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] TIMESTAMP = ",\"timestamp\":".getBytes(StandardCharsets.US_ASCII);

  /** {@code {"product_id":P,"user_id":U,"timestamp":T}} from the numbers' decimal digits. */
  static byte[] json(byte[] productId, byte[] userId, byte[] eventTime) {
    byte[] out = new byte[PRODUCT_ID.length + productId.length + USER_ID.length + userId.length
        + TIMESTAMP.length + eventTime.length + 1];
    int at = 0;
    for (byte[] part : new byte[][] {PRODUCT_ID, productId, USER_ID, userId, TIMESTAMP, eventTime}) {
      System.arraycopy(part, 0, out, at, part.length);
      at += part.length;
    }
    out[at] = '}';
    return out;
  }
}
