package dev.clickstream.dashboard;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The page's only queries, fixed text with integer parameters, against the pipeline's table read through FINAL (one
 * row per product and window, the most complete pane), over the windows that start within {@code span} of now. The
 * page can only pick how many windows and products, so neither it nor a caller can run other SQL; and the user they
 * run as must be read-only (checked before the first query, {@link #checkReadOnly}), so that even a mistake here
 * could not write. They go as HTTP GET, which ClickHouse runs read-only in any case. Plain SQL that ClickHouse 18.16
 * and a current server both accept, over HTTP rather than an official client, whose reads return no rows from 18.16
 * (docs/limits.md).
 */
final class CountsQuery {
  private static final Pattern TABLE = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*\\.[A-Za-z_][A-Za-z0-9_]*");
  /** UNKNOWN_TABLE, UNKNOWN_DATABASE: "Code: 60, e.displayText()" on 18.16, "Code: 60. DB::Exception" since. */
  private static final Pattern NOT_THERE_YET = Pattern.compile("Code: (60|81)[.,]");
  static final int MAX_WINDOWS = 240;
  static final int MAX_PRODUCTS = 50;

  /** A window of the table: [start, end) in epoch ms, and its clicks over all products. */
  record Window(long start, long end, long clicks) { }

  /** One product's count in the newest window, the pane that wrote it, and when the dashboard saw it change. */
  record NewestRow(long product, long count, String pane, long paneIndex, long changedAtMillis) { }

  /**
   * What the page shows: the last windows, the top products' series over them, the newest window's table, and the
   * settled mark (every window before it is final; 0 when no settling run has written one, as with a continuous job).
   */
  record Snapshot(List<Window> windows, List<Long> products, Map<Long, long[]> series, List<NewestRow> newest,
      long settledToMillis, long queriedAtMillis) { }

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final URI clickHouse;
  private final String table;
  private final String user;
  private final String authorization;
  /** (product, window start) → [count, when the dashboard first saw that count]. */
  private final Map<List<Long>, long[]> seen = new ConcurrentHashMap<>();
  private final long spanMillis;
  private volatile boolean readOnly;

  /** The user's {@code readonly} setting is 0: it may write, and the dashboard will not query as it. */
  static final class WritableUserException extends IllegalStateException {
    WritableUserException(String user) {
      super("the dashboard's ClickHouse user " + (user == null || user.isEmpty() ? "(the server's default)" : user)
          + " may write (readonly=0); it reads only as a read-only user: docs/dashboard.md says how to make one");
    }
  }

  CountsQuery(URI clickHouse, String table, String user, String password, Duration span) {
    if (!TABLE.matcher(table).matches()) {
      throw new IllegalArgumentException("the table must be database.table, plain identifiers, not '" + table + "'");
    }
    if (span.isNegative() || span.isZero()) {
      throw new IllegalArgumentException("the span must be positive, not " + span);
    }
    this.clickHouse = clickHouse;
    this.table = table;
    this.user = user;
    this.spanMillis = span.toMillis();
    this.authorization = user == null || user.isEmpty() ? null
        : "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
  }

  String table() {
    return table;
  }

  Snapshot snapshot(int windowCount, int productCount) throws IOException, InterruptedException {
    if (windowCount < 1 || windowCount > MAX_WINDOWS || productCount < 1 || productCount > MAX_PRODUCTS) {
      throw new IllegalArgumentException("windows must be 1.." + MAX_WINDOWS + " and products 1.." + MAX_PRODUCTS);
    }
    long now = System.currentTimeMillis();
    checkReadOnly();
    List<Window> windows = new ArrayList<>();
    List<long[]> newestFirst;
    try {
      newestFirst = query("SELECT timestamp, max(window_end), sum(count) FROM " + table + " FINAL"
          + " WHERE timestamp >= " + (now - spanMillis) + " GROUP BY timestamp ORDER BY timestamp DESC LIMIT "
          + windowCount);
    } catch (IOException e) {
      if (NOT_THERE_YET.matcher(e.getMessage()).find()) {
        // No pipeline has written yet: the page says that no window is counted yet.
        return new Snapshot(windows, List.of(), Map.of(), List.of(), 0, now);
      }
      throw e;
    }
    for (long[] row : newestFirst) {
      windows.add(0, new Window(row[0], row[1], row[2]));
    }
    long settledTo = settledTo();
    if (windows.isEmpty()) {
      return new Snapshot(windows, List.of(), Map.of(), List.of(), settledTo, now);
    }
    long from = windows.get(0).start();
    long newest = windows.get(windows.size() - 1).start();
    List<Long> products = new ArrayList<>();
    for (long[] row : query("SELECT product_id, sum(count) AS clicks FROM " + table + " FINAL WHERE timestamp >= "
        + from + " GROUP BY product_id ORDER BY clicks DESC, product_id LIMIT " + productCount)) {
      products.add(row[0]);
    }
    Map<Long, Integer> column = new LinkedHashMap<>();
    for (int i = 0; i < windows.size(); i++) {
      column.put(windows.get(i).start(), i);
    }
    Map<Long, long[]> series = new LinkedHashMap<>();
    for (long product : products) {
      series.put(product, new long[windows.size()]);
    }
    String in = products.stream().map(String::valueOf).collect(Collectors.joining(","));
    for (long[] row : query("SELECT product_id, timestamp, count FROM " + table + " FINAL WHERE timestamp >= " + from
        + " AND product_id IN (" + in + ")")) {
      Integer i = column.get(row[1]);
      if (i != null) {
        series.get(row[0])[i] = row[2];
      }
    }
    List<NewestRow> rows = new ArrayList<>();
    for (String[] row : queryText("SELECT product_id, count, pane_timing, pane_index FROM " + table + " FINAL"
        + " WHERE timestamp = " + newest + " ORDER BY count DESC, product_id LIMIT " + productCount)) {
      long product = Long.parseLong(row[0]);
      long count = Long.parseLong(row[1]);
      long[] last = seen.compute(List.of(product, newest),
          (k, v) -> v != null && v[0] == count ? v : new long[] {count, now});
      rows.add(new NewestRow(product, count, row[2], Long.parseLong(row[3]), last[1]));
    }
    if (seen.size() > 100_000) {
      seen.keySet().removeIf(k -> k.get(1) < from);
    }
    return new Snapshot(windows, products, series, rows, settledTo, now);
  }

  /**
   * Refuses a user that may write, once, before the first query. Asked by POST, which ClickHouse does not make
   * read-only by itself (a GET would report readonly=2 for any user).
   */
  void checkReadOnly() throws IOException, InterruptedException {
    if (readOnly) {
      return;
    }
    List<String[]> rows = send(HttpRequest.BodyPublishers.ofString(
        "SELECT value FROM system.settings WHERE name = 'readonly' FORMAT TabSeparated"), "");
    if (rows.isEmpty() || rows.get(0)[0].equals("0")) {
      throw new WritableUserException(user);
    }
    readOnly = true;
  }

  /** The newest settled mark in {@code <table>_settled}, written by the DAG's settling runs; 0 if none. */
  private long settledTo() throws IOException, InterruptedException {
    try {
      List<long[]> rows = query("SELECT max(settled_to) FROM " + table + "_settled");
      return rows.isEmpty() ? 0 : rows.get(0)[0];
    } catch (IOException e) {
      if (NOT_THERE_YET.matcher(e.getMessage()).find()) {
        return 0;
      }
      throw e;
    }
  }

  private List<long[]> query(String sql) throws IOException, InterruptedException {
    List<long[]> rows = new ArrayList<>();
    for (String[] text : queryText(sql)) {
      long[] row = new long[text.length];
      for (int i = 0; i < text.length; i++) {
        row[i] = Long.parseLong(text[i]);
      }
      rows.add(row);
    }
    return rows;
  }

  private List<String[]> queryText(String sql) throws IOException, InterruptedException {
    return send(null, "?query=" + URLEncoder.encode(sql + " FORMAT TabSeparated", StandardCharsets.UTF_8));
  }

  /** A GET with the query in the address, or a POST of {@code body}. */
  private List<String[]> send(HttpRequest.BodyPublisher body, String query) throws IOException, InterruptedException {
    String url = clickHouse.toString() + (clickHouse.toString().endsWith("/") ? "" : "/") + query;
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(20));
    request = body == null ? request.GET() : request.POST(body);
    if (authorization != null) {
      request.header("Authorization", authorization);
    }
    HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    if (response.statusCode() != 200) {
      throw new IOException("ClickHouse answered " + response.statusCode() + ": " + response.body().strip());
    }
    List<String[]> rows = new ArrayList<>();
    for (String line : response.body().split("\n")) {
      if (!line.isEmpty()) {
        rows.add(line.split("\t", -1));
      }
    }
    return rows;
  }
}
