package dev.clickstream.pipeline.config;

import dev.clickstream.pipeline.model.Interval;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Duration;
import org.joda.time.Instant;

/**
 * The options, checked and parsed once when the pipeline is built, so that a bad value fails at start with a
 * message naming the option, and nothing that reaches SQL or a topic name is taken unchecked.
 */
public record Settings(
    KafkaClient kafka,
    String inputTopic,
    String outputTopic,
    String deadLetterTopic,
    String consumerGroup,
    ClickHouseUrl clickHouse,
    @Nullable String clickHouseUser,
    @Nullable String clickHousePassword,
    TableName table,
    Duration windowSize,
    Duration allowedLateness,
    Duration maxOutOfOrderness,
    Duration lateFiringDelay,
    int hotKeyFanout,
    Duration partitionCheckInterval,
    @Nullable Interval interval,
    @Nullable Interval early,
    @Nullable Settle settle,
    boolean createSchema) {

  /**
   * A settling run's limits ({@code --settle}): at most {@code maxSettle} of event time per run, and only windows whose
   * end + allowed lateness + maxOutOfOrderness + {@code deliveryMargin} has passed.
   */
  public record Settle(Duration maxSettle, Duration deliveryMargin) implements java.io.Serializable {}

  /** A ClickHouse {@code database.table}, both plain identifiers. */
  public record TableName(String database, String table) implements java.io.Serializable {
    private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]{0,127}");

    public static TableName parse(String option, String value) {
      String[] parts = value.split("\\.", -1);
      if (parts.length != 2 || !IDENTIFIER.matcher(parts[0]).matches() || !IDENTIFIER.matcher(parts[1]).matches()) {
        throw new IllegalArgumentException("--" + option + " must be database.table, each a plain identifier"
            + " ([A-Za-z_][A-Za-z0-9_]*), not '" + value + "'");
      }
      return new TableName(parts[0], parts[1]);
    }

    @Override
    public String toString() {
      return database + "." + table;
    }
  }

  private static final Pattern TOPIC = Pattern.compile("[A-Za-z0-9._-]{1,249}");

  public static Settings from(ClickCountOptions o) {
    Duration windowSize = duration("windowSize", o.getWindowSize());
    if (windowSize.getMillis() <= 0) {
      throw new IllegalArgumentException("--windowSize must be positive, not " + o.getWindowSize());
    }
    Interval interval = interval(o.getFrom(), o.getTo(), windowSize);
    Interval early = early(interval, o.getEarlyTo(), windowSize);
    Settle settle = settle(o, interval, windowSize);
    refuseExactlyOnce(o);
    TableName table = TableName.parse("clickHouseTable", required("clickHouseTable", o.getClickHouseTable()));
    return new Settings(
        KafkaClient.withFile(required("bootstrapServers", o.getBootstrapServers()), o.getKafkaProperties()),
        topic("inputTopic", o.getInputTopic()),
        topic("outputTopic", o.getOutputTopic()),
        topic("deadLetterTopic", o.getDeadLetterTopic()),
        required("consumerGroup", o.getConsumerGroup()),
        ClickHouseUrl.forTable(o.getClickHouseUrl(), table),
        o.getClickHouseUser() == null || o.getClickHouseUser().isEmpty() ? null : o.getClickHouseUser(),
        password(o.getClickHousePasswordEnv()),
        table,
        windowSize,
        duration("allowedLateness", o.getAllowedLateness()),
        duration("maxOutOfOrderness", o.getMaxOutOfOrderness()),
        duration("lateFiringDelay", o.getLateFiringDelay()),
        hotKeyFanout(o.getHotKeyFanout()),
        duration("partitionCheckInterval", o.getPartitionCheckInterval()),
        interval,
        early,
        settle,
        o.getCreateSchema() == null || o.getCreateSchema());
  }

  /**
   * {@code --kafkaExactlyOnce} was removed: KafkaIO's exactly-once sink committed one Kafka transaction per aggregate on
   * one shard (about 100 a second), and a job failing before its first checkpoint could never write again. The
   * aggregates are idempotent instead (keyed by product and window, the count is the version), so a run that still
   * asks for transactions is told what replaced them rather than getting an unknown-option error.
   */
  private static void refuseExactlyOnce(ClickCountOptions o) {
    if (Boolean.TRUE.equals(o.getKafkaExactlyOnce())) {
      throw new IllegalArgumentException("--kafkaExactlyOnce was removed: the aggregates are idempotent instead. Each"
          + " is keyed by product and window on a compacted topic and its count is its version: keep the largest per"
          + " key (docs/semantics.md). Drop the flag; consumers need not read committed any more");
    }
  }

  public boolean bounded() {
    return interval != null;
  }

  private static @Nullable Settle settle(ClickCountOptions o, @Nullable Interval interval, Duration windowSize) {
    if (!Boolean.TRUE.equals(o.getSettle())) {
      return null;
    }
    if (interval == null) {
      throw new IllegalArgumentException("--settle settles the windows of a bounded run: give --from and --to");
    }
    Duration max = duration("maxSettle", o.getMaxSettle());
    if (max.getMillis() < windowSize.getMillis() || max.getMillis() % windowSize.getMillis() != 0) {
      throw new IllegalArgumentException("--maxSettle must be a positive multiple of --windowSize " + windowSize
          + ", not " + o.getMaxSettle());
    }
    return new Settle(max, duration("deliveryMargin", o.getDeliveryMargin()));
  }

  /** {@code --hotKeyFanout}: 1 (none) to 64 shards per product before the count is combined per product. */
  static int hotKeyFanout(@Nullable Integer value) {
    if (value == null || value < 1 || value > 64) {
      throw new IllegalArgumentException("--hotKeyFanout must be an integer from 1 (no fan-out) to 64, not " + value);
    }
    return value;
  }

  static Duration duration(String option, String value) {
    Duration d;
    try {
      // java.time reads every ISO-8601 day-time duration (PT90S, PT1M30S, PT2H); Joda's parser only PTnS.
      d = Duration.millis(java.time.Duration.parse(required(option, value)).toMillis());
    } catch (java.time.format.DateTimeParseException | ArithmeticException e) {
      throw new IllegalArgumentException(
          "--" + option + " must be an ISO-8601 duration such as PT60S, not '" + value + "'", e);
    }
    if (d.isShorterThan(Duration.ZERO)) {
      throw new IllegalArgumentException("--" + option + " must not be negative, not " + value);
    }
    return d;
  }

  private static @Nullable Interval interval(@Nullable String from, @Nullable String to, Duration windowSize) {
    if (from == null && to == null) {
      return null;
    }
    if (from == null || to == null) {
      throw new IllegalArgumentException("a bounded run needs both --from and --to");
    }
    long fromMillis = instant("from", from);
    long toMillis = instant("to", to);
    if (fromMillis >= toMillis) {
      throw new IllegalArgumentException("--from must be before --to: " + from + " >= " + to);
    }
    // A window cut by the interval would be written with part of its clicks, overwriting the whole count that
    // the neighbouring run wrote: intervals must be made of whole windows.
    for (long millis : new long[] {fromMillis, toMillis}) {
      onWindowBoundary("--from and --to must fall on window boundaries", millis, windowSize);
    }
    return new Interval(fromMillis, toMillis);
  }

  /**
   * {@code --earlyTo}: the windows of [to, earlyTo) are counted too, early, with the clicks already in the topic; the
   * run that owns them (whose [from, to) holds them) counts them in full later and dead-letters their rejections.
   */
  private static @Nullable Interval early(@Nullable Interval interval, @Nullable String earlyTo,
      Duration windowSize) {
    if (earlyTo == null || earlyTo.isEmpty()) {
      return null;
    }
    if (interval == null) {
      throw new IllegalArgumentException("--earlyTo extends a bounded run: give --from and --to too");
    }
    long end = instant("earlyTo", earlyTo);
    if (end < interval.toMillis()) {
      throw new IllegalArgumentException("--earlyTo must not be before --to: " + earlyTo + " < "
          + new Instant(interval.toMillis()));
    }
    onWindowBoundary("--earlyTo must fall on a window boundary", end, windowSize);
    return end == interval.toMillis() ? null : new Interval(interval.toMillis(), end);
  }

  /** The event times a bounded run counts: its interval, and the early part after it. */
  public @Nullable Interval countInterval() {
    return interval == null || early == null ? interval : new Interval(interval.fromMillis(), early.toMillis());
  }

  /** Fails with {@code rule} and where {@code millis} lies unless it is a multiple of the window size. */
  private static void onWindowBoundary(String rule, long millis, Duration windowSize) {
    long size = windowSize.getMillis();
    if (Math.floorMod(millis, size) != 0) {
      long floor = Math.floorDiv(millis, size) * size;
      throw new IllegalArgumentException(rule + " (multiples of --windowSize " + windowSize + " since the epoch): " + new Instant(millis) + " lies between " + new Instant(floor)
          + " and " + new Instant(floor + size));
    }
  }

  private static long instant(String option, String value) {
    try {
      return java.time.Instant.parse(value).toEpochMilli();
    } catch (java.time.format.DateTimeParseException e) {
      throw new IllegalArgumentException(
          "--" + option + " must be an ISO-8601 instant such as 2026-11-26T10:00:00Z, not '" + value + "'", e);
    }
  }

  private static String topic(String option, String value) {
    if (value == null || !TOPIC.matcher(value).matches() || value.equals(".") || value.equals("..")) {
      throw new IllegalArgumentException("--" + option + " must be a Kafka topic name ([A-Za-z0-9._-], at most 249"
          + " characters), not '" + value + "'");
    }
    return value;
  }

  private static @Nullable String password(@Nullable String environmentVariable) {
    if (environmentVariable == null || environmentVariable.isEmpty()) {
      return null;
    }
    String password = System.getenv(environmentVariable);
    if (password == null) {
      throw new IllegalArgumentException("--clickHousePasswordEnv names the environment variable " + environmentVariable
          + ", which is not set");
    }
    return password;
  }

  /** The JDBC URL ClickHouseIO connects with, without credentials: safe to print. */
  public String clickHouseUrl() {
    return clickHouse.jdbc();
  }

  /**
   * The JDBC URL ClickHouseIO connects with: {@link #clickHouseUrl} plus the credentials, if any. It carries the
   * password: never log it.
   */
  public String clickHouseWriteUrl() {
    StringBuilder url = new StringBuilder(clickHouseUrl());
    if (clickHouseUser != null) {
      url.append('&').append("user=").append(java.net.URLEncoder.encode(clickHouseUser, StandardCharsets.UTF_8));
    }
    if (clickHousePassword != null) {
      url.append('&').append("password=")
          .append(java.net.URLEncoder.encode(clickHousePassword, StandardCharsets.UTF_8));
    }
    return url.toString();
  }

  private static String required(String option, @Nullable String value) {
    if (value == null || value.isBlank()) {
      throw new IllegalArgumentException("--" + option + " must not be empty");
    }
    return value;
  }

  @Override
  public String toString() {
    return "Settings[kafka=" + kafka + ", inputTopic=" + inputTopic + ", outputTopic="
        + outputTopic + ", deadLetterTopic=" + deadLetterTopic + ", consumerGroup=" + consumerGroup
        + ", clickHouseUrl=" + clickHouseUrl() + ", clickHouseUser=" + (clickHouseUser == null ? "(default)" : clickHouseUser)
        + ", clickHousePassword=" + (clickHousePassword == null ? "none" : "(from the environment)") + ", table=" + table + ", windowSize=" + windowSize
        + ", allowedLateness=" + allowedLateness + ", maxOutOfOrderness=" + maxOutOfOrderness
        + ", lateFiringDelay=" + lateFiringDelay + ", hotKeyFanout=" + hotKeyFanout
        + ", partitionCheckInterval=" + partitionCheckInterval + ", interval="
        + (interval == null ? "continuous" : interval) + (early == null ? "" : ", early=" + early)
        + (settle == null ? "" : ", settle=" + settle)
        + ", createSchema=" + createSchema + "]";
  }
}
