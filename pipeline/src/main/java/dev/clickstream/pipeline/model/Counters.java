package dev.clickstream.pipeline.model;

/**
 * The pipeline's own counters (Beam metrics), all in the {@value #NAMESPACE} namespace: what a run's summary line
 * reports, and what a runner's metrics show.
 */
public final class Counters {
  private Counters() {}

  public static final String NAMESPACE = "clicks";
  /** Records read from the clicks topic. */
  public static final String RECORDS_READ = "records_read";
  /** Clicks counted. */
  public static final String COUNTED = "parsed";
  /** Dead-lettered as malformed. */
  public static final String MALFORMED = "malformed";
  /** Dead-lettered: later than their window's end plus the allowed lateness. */
  public static final String TOO_LATE = "dropped_too_late";
  /** Dead-lettered: their window had closed (settled, or behind what their partition held). */
  public static final String WINDOW_CLOSED = "window_closed";
  /** Rejections an earlier run owns and has dead-lettered already. */
  public static final String ALREADY_DEAD_LETTERED = "already_dead_lettered";
  /** Records outside a bounded run's interval: another run's. */
  public static final String OUTSIDE_INTERVAL = "outside_interval";
  /** Aggregates handed to the Kafka sink. */
  public static final String AGGREGATES_SENT = "aggregates_sent";
  /** Rows handed to the ClickHouse sink. */
  public static final String ROWS_WRITTEN = "rows_written";
}
