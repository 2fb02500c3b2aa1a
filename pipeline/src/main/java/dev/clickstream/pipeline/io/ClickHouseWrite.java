package dev.clickstream.pipeline.io;

import dev.clickstream.pipeline.config.Settings;
import org.apache.beam.sdk.io.clickhouse.ClickHouseIO;
import org.apache.beam.sdk.io.clickhouse.TableSchema;
import org.apache.beam.sdk.values.Row;
import org.joda.time.Duration;

/**
 * The ClickHouseIO write of the aggregates: one row per pane into the table's {@code ReplacingMergeTree}, whose
 * {@code FINAL} view keeps each (product, window)'s last pane. An insert ClickHouseIO deems retriable is retried with
 * backoff (from 1 s, up to 10 tries, 5 minutes in all); other failures fail the run, which the launcher (DirectRunner)
 * or Flink restarts, re-reading what it had not finished (ServiceOutageIT: ClickHouse down for 30 s).
 */
public final class ClickHouseWrite {
  private ClickHouseWrite() {}

  public static ClickHouseIO.Write<Row> of(Settings s) {
    TableSchema tableSchema = ClickHouseSchema.tableSchema();
    ClickHouseSchema.checkRowSchema(ClickHouseSchema.ROW_SCHEMA, tableSchema);
    return ClickHouseIO.<Row>write(s.clickHouseWriteUrl(), s.table().table())
        .withTableSchema(tableSchema)
        .withMaxRetries(10)
        .withInitialBackoff(Duration.standardSeconds(1))
        .withMaxCumulativeBackoff(Duration.standardMinutes(5));
  }
}
