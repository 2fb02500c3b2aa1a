package dev.clickstream.pipeline.it;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clickstream.generator.ClickGenerator;
import dev.clickstream.generator.GeneratorConfig;
import dev.clickstream.pipeline.ClickCountPipeline;
import dev.clickstream.pipeline.admin.TableMigration;
import dev.clickstream.pipeline.config.Settings;
import java.io.PrintStream;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.PipelineResult;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A counts table made by an earlier version (not partitioned, sorted by product first) still takes the pipeline's
 * rows; MigrateTable moves it to the current layout (partitioned by day, sorted by window start) without changing a
 * count, and the pipeline goes on writing to it. The migration starts no pipeline of its own: it runs once, on the
 * DirectRunner's execution.
 */
@Tag("services")
@Tag("direct-runner")
class TableMigrationIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);

  /** The counts table as versions before the day partitions made it. */
  private static final String EARLIER_LAYOUT = "(product_id UInt32, timestamp UInt64, window_end UInt64, count UInt64,"
      + " pane_timing Enum8('UNKNOWN' = 0, 'EARLY' = 1, 'ON_TIME' = 2, 'LATE' = 3), pane_index UInt64)"
      + " ENGINE = ReplacingMergeTree(count) ORDER BY (product_id, timestamp)";

  private static Map<List<Long>, Long> countInto(String topic, String table, Instant from, int minutes, int seed)
      throws Exception {
    ClickGenerator.Summary generated = ClickGenerator.run(GeneratorConfig.parse("--bootstrap-servers",
        LocalStack.KAFKA, "--topic", topic, "--start", from.toString(), "--duration", "PT" + minutes + "M", "--rate",
        "100", "--late-fraction", "0.05", "--seed", Integer.toString(seed)), new PrintStream(System.err, true));
    assertTrue(generated.ok());
    PipelineResult result = ClickCountPipeline.run(LocalStack.options(LocalStack.sinkOptions(topic, table,
        "--from=" + from, "--to=" + from.plus(minutes, ChronoUnit.MINUTES))));
    assertThat(result.waitUntilFinish(), equalTo(PipelineResult.State.DONE));
    Map<List<Long>, Long> expected = new HashMap<>();
    generated.oracle().counts().forEach((k, v) -> expected.put(List.of(k.productId(), k.windowStart()), v));
    return expected;
  }

  private static String layout(String table) throws Exception {
    String[] name = table.split("\\.");
    return LocalStack.query("SELECT partition_key, sorting_key FROM system.tables WHERE database = '" + name[0]
        + "' AND name = '" + name[1] + "' FORMAT TabSeparated").stripTrailing(); // an empty partition key leads
  }

  @Test
  void anEarlierTableKeepsItsCountsThroughTheMigrationAndTakesNewOnes() throws Exception {
    LocalStack.requireRunning();
    String topic = "it_migrate_" + RUN;
    String table = "analytics.it_migrate_" + RUN;
    LocalStack.createTopic(topic, 2);
    // On a fresh stack no pipeline run has made the database yet.
    LocalStack.query("CREATE DATABASE IF NOT EXISTS " + table.split("\\.")[0]);
    LocalStack.query("CREATE TABLE " + table + " " + EARLIER_LAYOUT);
    // Two hours apart on either side of a midnight: after the migration they lie in two day partitions.
    Instant first = Instant.now().truncatedTo(ChronoUnit.DAYS).minus(25, ChronoUnit.HOURS);
    Map<List<Long>, Long> expected = new HashMap<>(countInto(topic, table, first, 2, 11));
    assertThat(LocalStack.finalCounts(table), equalTo(expected));

    Settings settings = Settings.from(LocalStack.options(LocalStack.sinkOptions(topic, table)));
    TableMigration.Result moved = TableMigration.migrate(settings);
    assertTrue(moved.migrated());
    assertThat(layout(table), equalTo("intDiv(timestamp, 86400000)\ttimestamp, product_id"));
    assertThat(layout(table + "_before_migration"), equalTo("\tproduct_id, timestamp"));
    assertThat(LocalStack.finalCounts(table), equalTo(expected));
    assertThat(LocalStack.finalCounts(table + "_before_migration"), equalTo(expected));
    // Run again: nothing to do.
    assertThat(TableMigration.migrate(settings).migrated(), equalTo(false));

    Instant second = first.plus(2, ChronoUnit.HOURS);
    expected.putAll(countInto(topic, table, second, 2, 12));
    assertThat(LocalStack.finalCounts(table), equalTo(expected));
    assertThat(LocalStack.query("SELECT uniqExact(partition) FROM system.parts WHERE active AND database = '"
        + table.split("\\.")[0] + "' AND table = '" + table.split("\\.")[1] + "' FORMAT TabSeparated").strip(),
        equalTo("2"));
  }
}
