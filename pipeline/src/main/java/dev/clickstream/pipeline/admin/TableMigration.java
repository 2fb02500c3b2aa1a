package dev.clickstream.pipeline.admin;

import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.config.StartupRefusedException;
import dev.clickstream.pipeline.io.ClickHouseSchema;
import java.io.IOException;

/**
 * Moves a counts table made by an earlier version to the DDL's layout ({@link ClickHouseSchema#declaredLayout}):
 * ClickHouse cannot change a table's partitioning or sort key in place, so the rows are copied into a new table of
 * the new layout, which then takes the old one's name; the old one stays as {@code <table>_before_migration} until
 * someone drops it. Run it with nothing writing to the table (the continuous job stopped, the DAG paused): rows
 * written to the old table during the copy would stay behind in the backup.
 */
public final class TableMigration {
  private TableMigration() {}

  /** What a migration did. */
  public record Result(boolean migrated, ClickHouseSchema.Layout before, long rows, long finalRows) {}

  public static Result migrate(Settings s) throws IOException, InterruptedException {
    ClickHouseHttp clickHouse = ClickHouseHttp.forSettings(s);
    Settings.TableName table = s.table();
    ClickHouseSchema.Layout before = clickHouse.layout(table);
    if (before == null) {
      throw new StartupRefusedException("ClickHouse table " + table + " does not exist: nothing to migrate");
    }
    ClickHouseSchema.checkLiveColumns(table, clickHouse.columns(table));
    long finalRows = clickHouse.count("SELECT count() FROM " + table + " FINAL");
    if (before.equals(ClickHouseSchema.declaredLayout())) {
      return new Result(false, before, clickHouse.count("SELECT count() FROM " + table), finalRows);
    }
    Settings.TableName next = new Settings.TableName(table.database(), table.table() + "_migrating");
    Settings.TableName backup = new Settings.TableName(table.database(), table.table() + "_before_migration");
    if (clickHouse.layout(backup) != null) {
      throw new StartupRefusedException("ClickHouse table " + backup + " exists from an earlier migration: drop it"
          + " (or rename it) first");
    }
    clickHouse.execute("DROP TABLE IF EXISTS " + next); // a copy an interrupted migration left behind
    String create = ClickHouseSchema.countsStatement(next);
    if (create.isEmpty()) {
      throw new IllegalStateException("the DDL has no counts table");
    }
    clickHouse.execute(create);
    clickHouse.execute("INSERT INTO " + next + " SELECT * FROM " + table);
    long copied = clickHouse.count("SELECT count() FROM " + next);
    long copiedFinal = clickHouse.count("SELECT count() FROM " + next + " FINAL");
    long source = clickHouse.count("SELECT count() FROM " + table);
    if (copied != source || copiedFinal != finalRows) {
      throw new IllegalStateException("the copy of " + table + " has " + copied + " rows (" + copiedFinal + " FINAL),"
          + " the table " + source + " (" + finalRows + " FINAL): something wrote to it during the migration; " + next
          + " is left for inspection, " + table + " is unchanged");
    }
    clickHouse.execute("RENAME TABLE " + table + " TO " + backup + ", " + next + " TO " + table);
    return new Result(true, before, copied, copiedFinal);
  }
}
