package dev.clickstream.pipeline.model;

import org.joda.time.Instant;

/** An event-time interval [from, to), in epoch milliseconds: a bounded run's, or the part of it counted. */
public record Interval(long fromMillis, long toMillis) implements java.io.Serializable {
  public boolean contains(long millis) {
    return millis >= fromMillis && millis < toMillis;
  }

  @Override
  public String toString() {
    return "[" + new Instant(fromMillis) + ", " + new Instant(toMillis) + ")";
  }
}
