package dev.clickstream.generator;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The counts a correct pipeline must end with for the records the generator wrote, computed from the records
 * themselves with the pipeline's documented rule, not from the pipeline's code:
 *
 * <ul>
 *   <li>a click belongs to the fixed window {@code [floor(t / size) * size, + size)} of its event time {@code t};
 *   <li>it counts if it arrived (Kafka timestamp) no later than that window's end plus the allowed lateness;
 *       otherwise it is too late: dropped from the counts and dead-lettered;
 *   <li>malformed records count nowhere and are dead-lettered.
 * </ul>
 */
public final class Oracle {

  /** A (product, window start) cell of the expected result. */
  public record WindowKey(long productId, long windowStart) implements Comparable<WindowKey> {
    @Override
    public int compareTo(WindowKey o) {
      int c = Long.compare(windowStart, o.windowStart);
      return c != 0 ? c : Long.compare(productId, o.productId);
    }
  }

  private final long windowSizeMillis;
  private final long allowedLatenessMillis;
  private final long fromMillis;
  private final long toMillis;
  /** Counted clicks per cell; hashed while generating (a tree cost a lookup of 7 levels per click), sorted on output. */
  private final HashMap<WindowKey, long[]> counts = new HashMap<>();
  private long records;
  private long onTime;
  private long late;
  private long counted;
  private long tooLate;
  private long tooLateArrivedBeforeTo;
  private long malformed;

  public Oracle(long windowSizeMillis, long allowedLatenessMillis, long fromMillis, long toMillis) {
    this.windowSizeMillis = windowSizeMillis;
    this.allowedLatenessMillis = allowedLatenessMillis;
    this.fromMillis = fromMillis;
    this.toMillis = toMillis;
  }

  public static Oracle forConfig(GeneratorConfig config) {
    return new Oracle(config.windowSize().toMillis(), config.allowedLateness().toMillis(),
        config.start().toEpochMilli(), config.endMillis());
  }

  public void add(ClickStream.Record record) {
    records++;
    switch (record.kind()) {
      case MALFORMED -> malformed++;
      case ON_TIME, LATE -> {
        if (record.kind() == ClickStream.Kind.LATE) {
          late++;
        } else {
          onTime++;
        }
        long windowStart = Math.floorDiv(record.eventTimeMillis(), windowSizeMillis) * windowSizeMillis;
        if (record.arrivalMillis() <= windowStart + windowSizeMillis + allowedLatenessMillis) {
          counts.computeIfAbsent(new WindowKey(record.productId(), windowStart), k -> new long[1])[0]++;
          counted++;
        } else {
          tooLate++;
          if (record.arrivalMillis() < toMillis) {
            tooLateArrivedBeforeTo++;
          }
        }
      }
    }
  }

  /** The expected count per cell, ordered by window, then product. */
  public Map<WindowKey, Long> counts() {
    TreeMap<WindowKey, Long> sorted = new TreeMap<>();
    counts.forEach((cell, n) -> sorted.put(cell, n[0]));
    return java.util.Collections.unmodifiableMap(sorted);
  }

  public long records() {
    return records;
  }

  public long counted() {
    return counted;
  }

  public long tooLate() {
    return tooLate;
  }

  /** Too-late clicks whose Kafka timestamp is before {@code to}: what a bounded run over [from, to) dead-letters. */
  public long tooLateArrivedBeforeTo() {
    return tooLateArrivedBeforeTo;
  }

  public long malformed() {
    return malformed;
  }

  public long late() {
    return late;
  }

  public long onTime() {
    return onTime;
  }

  /** The oracle as JSON: settings, tallies, and one entry per (product, window) with its exact final count. */
  public String toJson() {
    StringBuilder json = new StringBuilder(64 + counts.size() * 64);
    json.append("{\n")
        .append("  \"window_size_ms\": ").append(windowSizeMillis).append(",\n")
        .append("  \"allowed_lateness_ms\": ").append(allowedLatenessMillis).append(",\n")
        .append("  \"from\": ").append(fromMillis).append(",\n")
        .append("  \"to\": ").append(toMillis).append(",\n")
        .append("  \"records\": ").append(records).append(",\n")
        .append("  \"on_time\": ").append(onTime).append(",\n")
        .append("  \"late\": ").append(late).append(",\n")
        .append("  \"counted\": ").append(counted).append(",\n")
        .append("  \"too_late\": ").append(tooLate).append(",\n")
        .append("  \"too_late_arrived_before_to\": ").append(tooLateArrivedBeforeTo).append(",\n")
        .append("  \"malformed\": ").append(malformed).append(",\n")
        .append("  \"counts\": [");
    String separator = "\n";
    for (Map.Entry<WindowKey, Long> e : counts().entrySet()) {
      json.append(separator)
          .append("    {\"product_id\": ").append(e.getKey().productId())
          .append(", \"window_start\": ").append(e.getKey().windowStart())
          .append(", \"window_end\": ").append(e.getKey().windowStart() + windowSizeMillis)
          .append(", \"count\": ").append(e.getValue()).append('}');
      separator = ",\n";
    }
    return json.append("\n  ]\n}\n").toString();
  }

  public void write(Path file) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.writeString(file, toJson(), StandardCharsets.UTF_8);
  }
}
