-- The one definition of the ClickHouse side of the pipeline. The pipeline runs it at start (unless
-- --createSchema=false), reads its column list to build ClickHouseIO's TableSchema, and checks a live table
-- against it; Compose mounts this same file into ClickHouse's init folder. It must stay valid on Debian's
-- ClickHouse 18.16 and on a current server. One statement per ';'. The pipeline substitutes the names
-- analytics / product_clicks when --clickHouseTable names another (validated) table.
--
-- One row per (product, window) and pane written. Counts of a window only grow (panes accumulate), so the
-- largest count is the most complete: ReplacingMergeTree keeps, per sorting key, the row with the largest
-- version, and `count` is that version. Rewriting a window (a re-run, a replay after a crash) is idempotent,
-- and a partial recount can never replace a more complete one. Read it with FINAL:
--   SELECT product_id, timestamp, count FROM analytics.product_clicks FINAL
--
-- Columns: product_id; timestamp = window start and window_end = window end, in epoch milliseconds (the
-- window is [timestamp, window_end)); count = clicks of that product in that window so far; pane_timing and
-- pane_index = which firing of the window wrote the row (ON_TIME when the watermark passed the window, LATE for
-- each update by late clicks).
--
-- Layout: one partition per UTC day of the window start, sorted by window start first, so that the reads of a time
-- range (the dashboard, the DAG's checks) touch the days and granules of that range only; all rows of one (product,
-- window) share a partition, so FINAL still keeps the largest count. A table made by an earlier version (no
-- partitions, sorted by product first) works as before; MigrateTable moves it to this layout (docs/scaling.md).
-- A current server can also drop old days by itself: ALTER TABLE ... MODIFY TTL (not on 18.16, which has no TTL).
CREATE DATABASE IF NOT EXISTS analytics;

CREATE TABLE IF NOT EXISTS analytics.product_clicks
(
    product_id UInt32,
    timestamp UInt64,
    window_end UInt64,
    count UInt64,
    pane_timing Enum8('UNKNOWN' = 0, 'EARLY' = 1, 'ON_TIME' = 2, 'LATE' = 3),
    pane_index UInt64
)
ENGINE = ReplacingMergeTree(count)
PARTITION BY intDiv(timestamp, 86400000)
ORDER BY (timestamp, product_id);

-- The settled mark of the runs that settle windows (the DAG's, --settle): one row per run that settled windows
-- [settled_from, settled_to) of input_topic, in epoch milliseconds. Every window before the newest row's
-- settled_to is final. cuts = 'partition:offset,...': where in each partition that run stopped judging records;
-- the next run judges from there on, so each record is judged (counted, or dead-lettered) by one run. written_at =
-- when the row was written (epoch ms): dead letters of a failed attempt are looked for from there on.
CREATE TABLE IF NOT EXISTS analytics.product_clicks_settled
(
    input_topic String,
    settled_from UInt64,
    settled_to UInt64,
    cuts String,
    written_at UInt64
)
ENGINE = MergeTree
ORDER BY (input_topic, settled_to);
