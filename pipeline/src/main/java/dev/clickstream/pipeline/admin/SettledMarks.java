package dev.clickstream.pipeline.admin;

import dev.clickstream.pipeline.config.Settings;
import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * The settled mark, kept beside the counts in ClickHouse ({@code <table>_settled}, defined in the DDL file): one row
 * per run that settled windows of an input topic. The newest row's {@code settled_to} is the mark: every window
 * before it is final. Its cuts say where, in each partition, that run stopped judging records.
 */
public final class SettledMarks {
  private SettledMarks() {}

  /** One row: windows [settledFrom, settledTo) settled, partition to offset where judging stopped, when written. */
  public record Mark(long settledFrom, long settledTo, Map<Integer, Long> cuts, long writtenAtMillis) {
    public Mark {
      cuts = Map.copyOf(cuts);
    }
  }

  /** The marks' table of the settings' counts table: {@code <database>.<table>_settled}. */
  public static Settings.TableName table(Settings s) {
    return new Settings.TableName(s.table().database(), s.table().table() + "_settled");
  }

  /** The newest mark of the settings' input topic, or null when no run has settled any window of it yet. */
  public static @Nullable Mark latest(Settings s) {
    String tsv = run(s, "SELECT settled_from, settled_to, cuts, written_at FROM " + table(s)
        + " WHERE input_topic = '" + s.inputTopic() + "' ORDER BY settled_to DESC, written_at DESC LIMIT 1"
        + " FORMAT TabSeparated");
    String line = tsv.strip();
    if (line.isEmpty()) {
      return null;
    }
    String[] f = line.split("\t", -1);
    return new Mark(Long.parseLong(f[0]), Long.parseLong(f[1]), decode(f[2]), Long.parseLong(f[3]));
  }

  /** Adds a mark row for the settings' input topic. */
  public static void write(Settings s, Mark mark) {
    run(s, "INSERT INTO " + table(s) + " (input_topic, settled_from, settled_to, cuts, written_at) VALUES ('"
        + s.inputTopic() + "', " + mark.settledFrom() + ", " + mark.settledTo() + ", '" + encode(mark.cuts()) + "', "
        + mark.writtenAtMillis() + ")");
  }

  static String encode(Map<Integer, Long> cuts) {
    return new TreeMap<>(cuts).entrySet().stream().map(e -> e.getKey() + ":" + e.getValue())
        .collect(Collectors.joining(","));
  }

  static Map<Integer, Long> decode(String text) {
    Map<Integer, Long> cuts = new TreeMap<>();
    if (!text.isEmpty()) {
      for (String pair : text.split(",")) {
        int colon = pair.indexOf(':');
        cuts.put(Integer.parseInt(pair.substring(0, colon)), Long.parseLong(pair.substring(colon + 1)));
      }
    }
    return cuts;
  }

  private static String run(Settings s, String sql) {
    try {
      return ClickHouseHttp.forSettings(s).execute(sql);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read or write the settled mark in " + table(s) + ": " + e.getMessage(),
          e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reading or writing the settled mark", e);
    }
  }
}
