package dev.clickstream.pipeline;

import dev.clickstream.pipeline.admin.TableMigration;
import dev.clickstream.pipeline.config.ClickCountOptions;
import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.io.ClickHouseSchema;
import dev.clickstream.pipeline.launch.RunnerOptions;

/**
 * Moves the counts table to the current layout ({@link TableMigration}), with the pipeline's options ({@link
 * ClickCountOptions}: {@code --clickHouseUrl}, {@code --clickHouseTable}, the credentials). Exit status 0 when the
 * table has the current layout afterwards, 2 when it cannot be migrated. Stop whatever writes to the table first.
 */
public final class MigrateTable {
  private MigrateTable() {}

  public static void main(String[] args) throws Exception {
    try {
      Settings settings = Settings.from(RunnerOptions.parse(args));
      TableMigration.Result result = TableMigration.migrate(settings);
      if (!result.migrated()) {
        System.out.println("table " + settings.table() + " already has the current layout (" + result.before() + ")");
      } else {
        System.out.println("table " + settings.table() + " moved from " + result.before() + " to "
            + ClickHouseSchema.declaredLayout() + ": " + result.rows() + " rows copied (" + result.finalRows()
            + " after FINAL); the old table is " + settings.table() + "_before_migration, drop it once satisfied");
      }
    } catch (IllegalArgumentException | IllegalStateException e) {
      System.err.println("migrate-table: " + e.getMessage());
      System.exit(2);
    }
  }
}
