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
   *
   * <p>A record is generated only once every pending one arrives after its event time, and arrives at most the
   * jitter plus the late delay after it, so the pending arrivals span at most that delay + 1 milliseconds: the buckets
   * are a ring indexed by arrival, without boxing or hashing (a hash map of buckets took a third of the generator's
   * main-thread samples in a profile). A delay too long for a ring of {@link #MAX_RING} buckets keeps the hash map.
   */
  private final ArrayDeque<Record>[] ring;
  private final HashMap<Long, ArrayDeque<Record>> pending;
  /** 2^21 bucket slots (8 MB): delays up to 34 minutes. */
  private static final int MAX_RING = 1 << 21;
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
    this(config, MAX_RING);
  }

  /** With the longest delay a ring may hold, {@code maxRing}: a test runs both kinds of buckets on one config. */
  ClickStream(GeneratorConfig config, int maxRing) {
    this.config = config;
    this.random = new SplittableRandom(config.seed());
    this.popularity = new ProductPopularity(config.products(), config.zipfExponent());
    this.total = config.eventCount();
    this.userKeys = new byte[config.users() + 1][];
    this.productDigits = new byte[config.products() + 1][];
    this.nextEventTime = total > 0 ? config.eventTimeMillis(0) : Long.MAX_VALUE;
    long maxDelay = config.arrivalJitter().toMillis() + config.lateDelay().toMillis();
    if (maxDelay < maxRing) {
      @SuppressWarnings("unchecked")
      ArrayDeque<Record>[] buckets = new ArrayDeque[Math.max(1, Integer.highestOneBit((int) maxDelay) << 1)];
      this.ring = buckets;
      this.pending = null;
    } else {
      this.ring = null;
      this.pending = new HashMap<>();
    }
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
      bucket(record.arrivalMillis(), true).add(record);
      pendingCount++;
      earliest = Math.min(earliest, record.arrivalMillis());
    }
    ArrayDeque<Record> bucket = bucket(earliest, false);
    Record next = bucket.poll();
    pendingCount--;
    if (bucket.isEmpty()) {
      dropBucket(earliest);
      // Nothing pending arrives before the record just taken: the next bucket is found by stepping forward.
      if (pendingCount == 0) {
        earliest = Long.MAX_VALUE;
      } else {
        do {
          earliest++;
        } while (bucket(earliest, false) == null);
      }
    }
    return next;
  }

  /** The bucket of records arriving at {@code arrival}, made if {@code create}; otherwise null when there is none. */
  private ArrayDeque<Record> bucket(long arrival, boolean create) {
    if (ring == null) {
      return create ? pending.computeIfAbsent(arrival, k -> new ArrayDeque<>()) : pending.get(arrival);
    }
    int slot = slot(arrival);
    ArrayDeque<Record> bucket = ring[slot];
    if (bucket == null && create) {
      bucket = ring[slot] = new ArrayDeque<>();
    }
    return bucket;
  }

  /** Drops the emptied bucket of {@code arrival}, so that memory follows the pending records, not the delay. */
  private void dropBucket(long arrival) {
    if (ring == null) {
      pending.remove(arrival);
    } else {
      ring[slot(arrival)] = null;
    }
  }

  private int slot(long arrival) {
    return (int) arrival & (ring.length - 1);
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
