package dev.clickstream.pipeline.io;

import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.config.StartupRefusedException;
import dev.clickstream.pipeline.model.WindowCount;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.beam.sdk.io.clickhouse.TableSchema;
import org.apache.beam.sdk.schemas.Schema;
import org.apache.beam.sdk.values.Row;

/**
 * The ClickHouse side of the pipeline, all derived from one file, {@code clickhouse/product_clicks.sql}: the DDL
 * run at start, ClickHouseIO's {@link TableSchema}, and the column list a live table is checked against.
 */
public final class ClickHouseSchema {

  public static final String DDL_RESOURCE = "/clickhouse/product_clicks.sql";
  private static final String DEFAULT_DATABASE = "analytics";
  private static final String DEFAULT_TABLE = "product_clicks";

  /** The rows the pipeline writes; {@link #checkRowSchema} holds it against the table's columns. */
  public static final Schema ROW_SCHEMA = Schema.builder()
      .addInt64Field("product_id")
      .addInt64Field("timestamp")
      .addInt64Field("window_end")
      .addInt64Field("count")
      .addStringField("pane_timing")
      .addInt64Field("pane_index")
      .build();

  private static final Pattern CREATE_TABLE =
      Pattern.compile("CREATE TABLE IF NOT EXISTS\\s+\\S+\\s*\\((.*)\\)\\s*ENGINE", Pattern.DOTALL);
  private static final Pattern COLUMN = Pattern.compile("\\s*([A-Za-z_][A-Za-z0-9_]*)\\s+(.+?)\\s*");
  private static final Pattern LAYOUT =
      Pattern.compile("\\)\\s*ENGINE\\s*=.*?(?:PARTITION BY\\s+(.+?)\\s+)?ORDER BY\\s*\\((.+?)\\)\\s*$", Pattern.DOTALL);

  /**
   * How the counts table is partitioned and sorted, as {@code system.tables} reports it ({@code partition_key},
   * {@code sorting_key}; empty: none), compared without blanks.
   */
  public record Layout(String partitionKey, String sortingKey) {
    public Layout {
      partitionKey = partitionKey.replaceAll("\\s+", "");
      sortingKey = sortingKey.replaceAll("\\s+", "");
    }

    @Override
    public String toString() {
      return (partitionKey.isEmpty() ? "no partitions" : "PARTITION BY " + partitionKey) + ", ORDER BY ("
          + sortingKey + ")";
    }
  }

  private ClickHouseSchema() {}

  /** A window count as a row of the table. */
  public static Row row(WindowCount count) {
    return Row.withSchema(ROW_SCHEMA)
        .withFieldValue("product_id", count.productId())
        .withFieldValue("timestamp", count.windowStart())
        .withFieldValue("window_end", count.windowEnd())
        .withFieldValue("count", count.count())
        .withFieldValue("pane_timing", count.timing())
        .withFieldValue("pane_index", count.paneIndex())
        .build();
  }

  /** The DDL file's text. */
  public static String ddl() {
    try (InputStream in = ClickHouseSchema.class.getResourceAsStream(DDL_RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException(DDL_RESOURCE + " is missing from the classpath");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + DDL_RESOURCE, e);
    }
  }

  /** The DDL's statements, comments removed, for the given (validated) table. */
  public static List<String> statements(Settings.TableName table) {
    StringBuilder sql = new StringBuilder();
    for (String line : ddl().split("\n")) {
      if (!line.strip().startsWith("--")) {
        sql.append(line).append('\n');
      }
    }
    List<String> statements = new ArrayList<>();
    for (String statement : sql.toString().split(";")) {
      if (!statement.isBlank()) {
        statements.add(statement.strip()
            .replace(DEFAULT_DATABASE + "." + DEFAULT_TABLE, table.database() + "." + table.table())
            .replace("DATABASE IF NOT EXISTS " + DEFAULT_DATABASE, "DATABASE IF NOT EXISTS " + table.database()));
      }
    }
    return statements;
  }

  /** Column name to ClickHouse type, in table order, as the DDL declares them. */
  public static Map<String, String> declaredColumns() {
    Matcher m = CREATE_TABLE.matcher(countsStatement());
    if (!m.find()) {
      throw new IllegalStateException(DDL_RESOURCE + " has no CREATE TABLE IF NOT EXISTS " + DEFAULT_DATABASE + "."
          + DEFAULT_TABLE + " (...) ENGINE statement");
    }
    Map<String, String> columns = new LinkedHashMap<>();
    for (String definition : splitTopLevel(m.group(1))) {
      Matcher c = COLUMN.matcher(definition);
      if (!c.matches()) {
        throw new IllegalStateException(DDL_RESOURCE + ": cannot read the column definition '" + definition + "'");
      }
      columns.put(c.group(1), c.group(2));
    }
    return columns;
  }

  /** The counts table's layout as the DDL declares it. */
  public static Layout declaredLayout() {
    Matcher m = LAYOUT.matcher(countsStatement());
    if (!m.find()) {
      throw new IllegalStateException(DDL_RESOURCE + ": cannot read the counts table's PARTITION BY / ORDER BY");
    }
    return new Layout(m.group(1) == null ? "" : m.group(1), m.group(2));
  }

  /** The counts table's CREATE TABLE statement, for the default names. */
  private static String countsStatement() {
    return countsStatement(new Settings.TableName(DEFAULT_DATABASE, DEFAULT_TABLE));
  }

  /** The DDL's CREATE TABLE statement of the counts table, made as {@code table}; empty if the DDL has none. */
  public static String countsStatement(Settings.TableName table) {
    return statements(table).stream()
        .filter(st -> st.matches("(?s)CREATE TABLE IF NOT EXISTS\\s+" + Pattern.quote(table.toString())
            + "\\s*\\(.*"))
        .findFirst().orElse("");
  }

  /** ClickHouseIO's explicit schema, so that the writer never needs a DESCRIBE at construction. */
  public static TableSchema tableSchema() {
    List<TableSchema.Column> columns = new ArrayList<>();
    declaredColumns().forEach((name, type) -> columns.add(TableSchema.Column.of(name, TableSchema.ColumnType.parse(type))));
    return TableSchema.of(columns.toArray(new TableSchema.Column[0]));
  }

  /**
   * Fails, naming the column, unless every table column has a Row field of exactly the Beam type ClickHouseIO
   * writes it from. A mismatch (an INT32 for a UInt32 column) makes ClickHouseIO send an empty body and report
   * success: zero rows, no error.
   */
  public static void checkRowSchema(Schema rowSchema, TableSchema tableSchema) {
    List<String> problems = new ArrayList<>();
    for (TableSchema.Column column : tableSchema.columns()) {
      if (column.materializedOrAlias()) {
        continue;
      }
      Schema.FieldType wanted = TableSchema.getEquivalentFieldType(column.columnType());
      if (!rowSchema.hasField(column.name())) {
        problems.add("column " + column.name() + " (" + column.columnType().typeName() + ") has no field in the rows");
        continue;
      }
      Schema.FieldType actual = rowSchema.getField(column.name()).getType();
      if (!actual.withNullable(false).equals(wanted) || actual.getNullable() && !column.columnType().nullable()) {
        problems.add("column " + column.name() + " (" + column.columnType().typeName() + ") needs a Row field of type "
            + wanted.getTypeName() + ", the rows carry " + actual.getTypeName() + (actual.getNullable() ? " (nullable)" : ""));
      }
    }
    for (Schema.Field field : rowSchema.getFields()) {
      if (tableSchema.columns().stream().noneMatch(c -> c.name().equals(field.getName()))) {
        problems.add("row field " + field.getName() + " has no column in the table");
      }
    }
    if (!problems.isEmpty()) {
      throw new StartupRefusedException("the rows do not fit the ClickHouse table: " + String.join("; ", problems));
    }
  }

  /**
   * Fails, naming each column, unless the live table has exactly the declared columns with the declared types.
   *
   * @param live column name to type as {@code system.columns} reports them
   */
  public static void checkLiveColumns(Settings.TableName table, Map<String, String> live) {
    Map<String, String> declared = declaredColumns();
    List<String> problems = new ArrayList<>();
    declared.forEach((name, type) -> {
      String liveType = live.get(name);
      if (liveType == null) {
        problems.add("column " + name + " " + type + " is missing");
      } else if (!normalize(liveType).equals(normalize(type))) {
        problems.add("column " + name + " is " + liveType + ", the pipeline writes " + type);
      }
    });
    live.keySet().stream().filter(name -> !declared.containsKey(name))
        .forEach(name -> problems.add("column " + name + " is not one the pipeline knows"));
    if (!problems.isEmpty()) {
      throw new StartupRefusedException("ClickHouse table " + table + " does not match " + DDL_RESOURCE + ": "
          + String.join("; ", problems) + ". Fix or drop the table (the pipeline creates it) before starting.");
    }
  }

  private static String normalize(String type) {
    return type.replace("\\'", "'").replaceAll("\\s+", "");
  }

  /** Splits a column list at commas that are not inside parentheses or quotes. */
  private static List<String> splitTopLevel(String list) {
    List<String> parts = new ArrayList<>();
    int depth = 0;
    boolean quoted = false;
    StringBuilder current = new StringBuilder();
    for (char ch : list.toCharArray()) {
      if (ch == '\'') {
        quoted = !quoted;
      } else if (!quoted && ch == '(') {
        depth++;
      } else if (!quoted && ch == ')') {
        depth--;
      } else if (!quoted && depth == 0 && ch == ',') {
        parts.add(current.toString());
        current.setLength(0);
        continue;
      }
      current.append(ch);
    }
    if (!current.toString().isBlank()) {
      parts.add(current.toString());
    }
    return parts;
  }
}
