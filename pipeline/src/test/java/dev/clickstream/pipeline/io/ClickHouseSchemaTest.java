package dev.clickstream.pipeline.io;

import dev.clickstream.pipeline.config.Settings;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.beam.sdk.io.clickhouse.TableSchema;
import org.apache.beam.sdk.schemas.Schema;
import org.junit.jupiter.api.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.allOf;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasSize;
import static org.junit.jupiter.api.Assertions.assertThrows;


class ClickHouseSchemaTest {

  @Test
  void theTableSchemaComesFromTheDdlFile() {
    TableSchema schema = ClickHouseSchema.tableSchema();
    assertThat(schema.columns().stream().map(TableSchema.Column::name).toList(),
        contains("product_id", "timestamp", "window_end", "count", "pane_timing", "pane_index"));
    assertThat(schema.columns().get(0).columnType().typeName(), equalTo(TableSchema.TypeName.UINT32));
    assertThat(schema.columns().get(4).columnType().enumValues(),
        equalTo(Map.of("UNKNOWN", 0, "EARLY", 1, "ON_TIME", 2, "LATE", 3)));
  }

  // Partitioned by day of the window start and sorted by window start, as system.tables reports a table made so
  // (its partition_key and sorting_key, compared without blanks).
  @Test
  void theTableIsPartitionedByDayAndSortedByWindowStart() {
    assertThat(ClickHouseSchema.declaredLayout(),
        equalTo(new ClickHouseSchema.Layout("intDiv(timestamp, 86400000)", "timestamp, product_id")));
    assertThat(ClickHouseSchema.declaredLayout().equals(new ClickHouseSchema.Layout("", "product_id, timestamp")),
        equalTo(false));
  }

  @Test
  void thePipelinesRowsFitTheTable() {
    ClickHouseSchema.checkRowSchema(ClickHouseSchema.ROW_SCHEMA, ClickHouseSchema.tableSchema());
  }

  // ClickHouseIO writes an INT32 field into a UInt32 column as an empty insert that "succeeds": refuse it up front.
  @Test
  void aRowFieldOfTheWrongTypeIsRefusedNamingTheColumn() {
    Schema wrong = Schema.builder()
        .addInt32Field("product_id").addInt64Field("timestamp").addInt64Field("window_end")
        .addInt64Field("count").addStringField("pane_timing").addInt64Field("pane_index").build();
    String message = assertThrows(IllegalStateException.class,
        () -> ClickHouseSchema.checkRowSchema(wrong, ClickHouseSchema.tableSchema())).getMessage();
    assertThat(message, allOf(containsString("column product_id (UINT32) needs a Row field of type INT64"),
        containsString("INT32")));
  }

  @Test
  void missingAndExtraRowFieldsAreRefused() {
    Schema missing = Schema.builder().addInt64Field("product_id").addInt64Field("timestamp").addInt64Field("bogus")
        .build();
    String message = assertThrows(IllegalStateException.class,
        () -> ClickHouseSchema.checkRowSchema(missing, ClickHouseSchema.tableSchema())).getMessage();
    assertThat(message, allOf(containsString("column count (UINT64) has no field"),
        containsString("row field bogus has no column")));
  }

  @Test
  void aLiveTableThatDiffersFromTheDdlIsRefusedNamingTheColumn() {
    Map<String, String> live = new LinkedHashMap<>(ClickHouseSchema.declaredColumns());
    live.put("product_id", "Int32");
    live.remove("pane_index");
    Settings.TableName table = new Settings.TableName("analytics", "product_clicks");
    String message = assertThrows(IllegalStateException.class,
        () -> ClickHouseSchema.checkLiveColumns(table, live)).getMessage();
    assertThat(message, allOf(containsString("column product_id is Int32, the pipeline writes UInt32"),
        containsString("column pane_index UInt64 is missing")));
  }

  @Test
  void aLiveTableAsClickHouseReportsItPasses() {
    Map<String, String> live = new LinkedHashMap<>(ClickHouseSchema.declaredColumns());
    live.put("pane_timing", "Enum8(\\'UNKNOWN\\' = 0, \\'EARLY\\' = 1, \\'ON_TIME\\' = 2, \\'LATE\\' = 3)");
    ClickHouseSchema.checkLiveColumns(new Settings.TableName("analytics", "product_clicks"), live);
  }

  @Test
  void theDdlIsRenamedForAnotherTable() {
    var statements = ClickHouseSchema.statements(new Settings.TableName("it_db", "it_table"));
    assertThat(statements, hasSize(3));
    assertThat(statements.get(0), equalTo("CREATE DATABASE IF NOT EXISTS it_db"));
    assertThat(statements.get(1), allOf(containsString("CREATE TABLE IF NOT EXISTS it_db.it_table\n"),
        containsString("ENGINE = ReplacingMergeTree(count)")));
    // The settled mark of the DAG's runs lives beside the counts, named after them.
    assertThat(statements.get(2), allOf(containsString("CREATE TABLE IF NOT EXISTS it_db.it_table_settled"),
        containsString("ENGINE = MergeTree")));
  }
}
