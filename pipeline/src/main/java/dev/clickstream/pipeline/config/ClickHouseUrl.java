package dev.clickstream.pipeline.config;

import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * A ClickHouse JDBC URL, {@code jdbc:clickhouse:[http:|https:]//host:port[/database][?k=v&...]}, made to point at the
 * database of the table the pipeline writes.
 *
 * <p>ClickHouseIO's writer gets the table's name without its database, so the URL's database decides where the rows
 * go. A URL naming another database than {@code --clickHouseTable} would send the rows to a table the start-up checks
 * never looked at: such a URL is refused. A URL naming no database gets the table's, in its path and in the
 * {@code custom_http_params} that Debian's ClickHouse 18.16 needs (it ignores the driver's database header; a current
 * server takes the extra {@code database} parameter as the same thing).
 */
public record ClickHouseUrl(boolean https, String hostPort, String database, Map<String, String> parameters) {
  private static final Pattern JDBC =
      Pattern.compile("jdbc:(?:clickhouse|ch):(?:(https?):)?//([^/?#]+)(?:/([^?#]*))?(?:\\?([^#]*))?");

  /** The JDBC driver's parameter that picks its HTTP client. */
  static final String HTTP_CONNECTION_PROVIDER = "http_connection_provider";
  static final String CUSTOM_HTTP_PARAMS = "custom_http_params";

  /**
   * Parses {@code url}, checks it against {@code table}'s database and completes it. Unless it picks an HTTP client
   * itself, the driver is told to use the JDK's: ClickHouseIO 2.71 never closes the response of its inserts; with
   * clickhouse-jdbc 0.6.4's default Apache client each insert keeps one of the pool's 10 connections, and the
   * eleventh waits three minutes and fails.
   */
  public static ClickHouseUrl forTable(@Nullable String url, Settings.TableName table) {
    Matcher m = url == null ? null : JDBC.matcher(url);
    if (m == null || !m.matches()) {
      throw new IllegalArgumentException("--clickHouseUrl must be a ClickHouse JDBC URL"
          + " (jdbc:clickhouse://host:port/database, or jdbc:clickhouse:https://...), not '" + url + "'");
    }
    Map<String, String> parameters = new LinkedHashMap<>();
    pairs(m.group(4), "&").forEach((k, v) -> parameters.put(decode(k), decode(v)));
    Map<String, String> custom = pairs(parameters.get(CUSTOM_HTTP_PARAMS), ",");
    String pathDatabase = m.group(3) == null || m.group(3).isEmpty() ? null : decode(m.group(3));
    for (String named : new String[] {pathDatabase, custom.get("database"), parameters.get("database")}) {
      if (named != null && !named.equals(table.database())) {
        throw new IllegalArgumentException("--clickHouseUrl names the database '" + named + "' but --clickHouseTable is "
            + table + ": ClickHouseIO would write into " + named + "." + table.table() + " while the checks look at "
            + table + ". Name the same database in both, or none in the URL");
      }
    }
    boolean https = "https".equals(m.group(1)) || "true".equalsIgnoreCase(parameters.get("ssl"));
    custom.put("database", table.database());
    List<String> pairs = new ArrayList<>();
    custom.forEach((k, v) -> pairs.add(k + "=" + v));
    parameters.put(CUSTOM_HTTP_PARAMS, String.join(",", pairs));
    parameters.putIfAbsent(HTTP_CONNECTION_PROVIDER, "HTTP_URL_CONNECTION");
    if (https) {
      parameters.putIfAbsent("ssl", "true");
    }
    return new ClickHouseUrl(https, m.group(2), table.database(), java.util.Collections.unmodifiableMap(parameters));
  }

  /** {@code key=value} pairs separated by {@code separator}, in order, as written; a key without {@code =} has "". */
  private static Map<String, String> pairs(@Nullable String text, String separator) {
    Map<String, String> pairs = new LinkedHashMap<>();
    if (text != null && !text.isEmpty()) {
      for (String pair : text.split(separator)) {
        int eq = pair.indexOf('=');
        pairs.put(eq < 0 ? pair : pair.substring(0, eq), eq < 0 ? "" : pair.substring(eq + 1));
      }
    }
    return pairs;
  }

  /** The JDBC URL for ClickHouseIO, without credentials. */
  public String jdbc() {
    StringBuilder url = new StringBuilder("jdbc:clickhouse:").append(https ? "https:" : "").append("//")
        .append(hostPort).append('/').append(database);
    char sep = '?';
    for (Map.Entry<String, String> e : parameters.entrySet()) {
      url.append(sep).append(encode(e.getKey())).append('=').append(encode(e.getValue()));
      sep = '&';
    }
    return url.toString();
  }

  /** The server's HTTP(S) interface, for the statements the pipeline runs itself. */
  public String httpEndpoint() {
    return (https ? "https" : "http") + "://" + hostPort + "/";
  }

  private static String decode(String s) {
    return URLDecoder.decode(s, StandardCharsets.UTF_8);
  }

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }
}
