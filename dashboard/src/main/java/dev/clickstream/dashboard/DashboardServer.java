package dev.clickstream.dashboard;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The live dashboard: one page (HTML, a script, a stylesheet and uPlot, all served from this jar, nothing from a CDN)
 * and one JSON endpoint, {@code /api/counts?windows=N&products=K}, that runs {@link CountsQuery}'s fixed read-only
 * queries and adds the dead letters per reason from {@link DeadLetterTail}. Binds to 127.0.0.1 unless told otherwise.
 *
 * <p>It answers only requests whose {@code Host} is one of its own names ({@code allowed-hosts}), so that a web page
 * elsewhere cannot reach it through a DNS name it points at 127.0.0.1; it queries ClickHouse only as a read-only user;
 * and what ClickHouse says when a query fails goes to its log, not to the browser.
 *
 * <p>Settings: flags {@code --name=value}, else the environment variables the DAG and {@code local-stack.sh env} use:
 * {@code CLICK_CLICKHOUSE_HTTP}, {@code CLICK_CLICKHOUSE_TABLE}, {@code CLICK_DASHBOARD_CLICKHOUSE_USER} (its own
 * read-only user, {@code dashboard} by default) with the password in the variable
 * {@code CLICK_DASHBOARD_CLICKHOUSE_PASSWORD}, {@code CLICK_DASHBOARD_SPAN} (how far back it reads, ISO-8601, PT24H),
 * {@code CLICK_KAFKA_BOOTSTRAP}, {@code CLICK_KAFKA_PROPERTIES}, {@code CLICK_DEAD_LETTER_TOPIC},
 * {@code CLICK_DASHBOARD_BIND}, {@code CLICK_DASHBOARD_PORT}, {@code CLICK_DASHBOARD_ALLOWED_HOSTS} (comma-separated
 * host names besides localhost, 127.0.0.1, [::1] and the bind address).
 */
public final class DashboardServer {
  private static final Map<String, String> TYPES = Map.of("html", "text/html; charset=utf-8",
      "js", "text/javascript; charset=utf-8", "css", "text/css; charset=utf-8", "txt", "text/plain; charset=utf-8");
  private static final List<String> PAGE = List.of("index.html", "dashboard.js", "dashboard.css",
      "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css", "vendor/uPlot.LICENSE.txt");

  private final CountsQuery counts;
  private final java.util.Set<String> allowedHosts;
  private final DeadLetterTail deadLetters;
  private final HttpServer server;
  private final ExecutorService workers = Executors.newFixedThreadPool(4);

  DashboardServer(Map<String, String> settings) throws IOException {
    this.counts = new CountsQuery(URI.create(settings.get("clickhouse-http")), settings.get("table"),
        settings.get("clickhouse-user"), System.getenv().getOrDefault(settings.get("clickhouse-password-env"), ""),
        java.time.Duration.parse(settings.get("span")));
    this.allowedHosts = allowedHosts(settings.get("bind"), settings.get("allowed-hosts"));
    Properties kafka = new Properties();
    String properties = settings.get("kafka-properties");
    if (properties != null && !properties.isEmpty()) {
      try (InputStream in = new FileInputStream(properties)) {
        kafka.load(in);
      }
    }
    this.deadLetters = new DeadLetterTail(settings.get("bootstrap-servers"), settings.get("dead-letter-topic"), kafka);
    this.server = HttpServer.create(
        new InetSocketAddress(settings.get("bind"), Integer.parseInt(settings.get("port"))), 16);
    server.setExecutor(workers);
    server.createContext("/", exchange -> ifHostAllowed(exchange, this::page));
    server.createContext("/api/counts", exchange -> ifHostAllowed(exchange, this::api));
    server.createContext("/healthz", exchange -> send(exchange, 200, "txt", "ok\n".getBytes(StandardCharsets.UTF_8)));
  }

  void start() {
    Thread tail = new Thread(deadLetters, "dead-letter-tail");
    tail.setDaemon(true);
    tail.start();
    server.start();
  }

  void stop() {
    server.stop(0);
    deadLetters.close();
    workers.shutdownNow();
  }

  int port() {
    return server.getAddress().getPort();
  }

  /** The names this server answers to: the loopback names, a specific bind address, and {@code extra}. */
  static java.util.Set<String> allowedHosts(String bind, String extra) {
    java.util.Set<String> hosts = new java.util.TreeSet<>(List.of("localhost", "127.0.0.1", "[::1]"));
    if (!bind.equals("0.0.0.0") && !bind.equals("::") && !bind.equals("[::]")) {
      hosts.add(bind.contains(":") && !bind.startsWith("[") ? "[" + bind + "]" : bind.toLowerCase(Locale.ROOT));
    }
    for (String host : extra.split(",")) {
      if (!host.isBlank()) {
        hosts.add(host.strip().toLowerCase(Locale.ROOT));
      }
    }
    return hosts;
  }

  /** The host name of a {@code Host} header, without its port: {@code [::1]:8090} → {@code [::1]}. */
  static String hostName(String header) {
    String host = header.strip().toLowerCase(Locale.ROOT);
    int colon = host.startsWith("[") ? host.indexOf(':', Math.max(host.indexOf(']'), 0)) : host.indexOf(':');
    return colon < 0 ? host : host.substring(0, colon);
  }

  private interface Handler {
    void handle(HttpExchange exchange) throws IOException;
  }

  private void ifHostAllowed(HttpExchange exchange, Handler handler) throws IOException {
    String header = exchange.getRequestHeaders().getFirst("Host");
    if (header == null || !allowedHosts.contains(hostName(header))) {
      send(exchange, 421, "txt", ("this dashboard answers to " + String.join(", ", allowedHosts)
          + "; add a name with --allowed-hosts\n").getBytes(StandardCharsets.UTF_8));
      return;
    }
    handler.handle(exchange);
  }

  private void page(HttpExchange exchange) throws IOException {
    String path = exchange.getRequestURI().getPath();
    String name = path.equals("/") ? "index.html" : path.substring(1);
    if (!exchange.getRequestMethod().equals("GET") || !PAGE.contains(name)) {
      send(exchange, 404, "txt", ("no such page: " + path + "\n").getBytes(StandardCharsets.UTF_8));
      return;
    }
    try (InputStream in = DashboardServer.class.getResourceAsStream("/web/" + name)) {
      if (in == null) {
        throw new IOException("the jar lacks web/" + name);
      }
      exchange.getResponseHeaders().set("Cache-Control", "no-cache");
      send(exchange, 200, name.substring(name.lastIndexOf('.') + 1), in.readAllBytes());
    }
  }

  private void api(HttpExchange exchange) throws IOException {
    if (!exchange.getRequestMethod().equals("GET")) {
      exchange.getResponseHeaders().set("Allow", "GET");
      send(exchange, 405, "json", "{\"error\":\"only GET\"}".getBytes(StandardCharsets.UTF_8));
      return;
    }
    int status = 200;
    String body;
    try {
      Map<String, String> query = query(exchange.getRequestURI().getRawQuery());
      int windows = Integer.parseInt(query.getOrDefault("windows", "10"));
      int products = Integer.parseInt(query.getOrDefault("products", "5"));
      CountsQuery.Snapshot snapshot = counts.snapshot(windows, products);
      body = json(snapshot, deadLetters.perWindow(snapshot.windows()));
    } catch (IllegalArgumentException e) {
      status = 400;
      body = "{\"error\":" + string(e.getMessage()) + "}";
    } catch (CountsQuery.WritableUserException e) {
      System.err.println("click-dashboard: " + e.getMessage());
      status = 503;
      body = "{\"error\":" + string(e.getMessage()) + "}";
    } catch (IOException e) {
      // ClickHouse's own words can name tables, users and settings: the log has them, the browser does not.
      System.err.println("click-dashboard: cannot read ClickHouse: " + e.getMessage());
      status = 502;
      body = "{\"error\":\"cannot read ClickHouse (the dashboard's log says why)\"}";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      status = 503;
      body = "{\"error\":\"stopping\"}";
    }
    exchange.getResponseHeaders().set("Cache-Control", "no-store");
    send(exchange, status, "json", body.getBytes(StandardCharsets.UTF_8));
  }

  private String json(CountsQuery.Snapshot s, Map<String, long[]> dead) {
    StringBuilder b = new StringBuilder(4096);
    b.append("{\"table\":").append(string(counts.table()));
    b.append(",\"queriedAt\":").append(s.queriedAtMillis());
    b.append(",\"settledTo\":").append(s.settledToMillis());
    b.append(",\"windows\":[");
    for (int i = 0; i < s.windows().size(); i++) {
      CountsQuery.Window w = s.windows().get(i);
      b.append(i == 0 ? "" : ",").append("{\"start\":").append(w.start()).append(",\"end\":").append(w.end())
          .append(",\"clicks\":").append(w.clicks()).append('}');
    }
    b.append("],\"series\":[");
    boolean first = true;
    for (Map.Entry<Long, long[]> e : s.series().entrySet()) {
      b.append(first ? "" : ",").append("{\"product\":").append(e.getKey()).append(",\"counts\":");
      numbers(b, e.getValue()).append('}');
      first = false;
    }
    b.append("],\"newest\":[");
    for (int i = 0; i < s.newest().size(); i++) {
      CountsQuery.NewestRow r = s.newest().get(i);
      b.append(i == 0 ? "" : ",").append("{\"product\":").append(r.product()).append(",\"count\":").append(r.count())
          .append(",\"pane\":").append(string(r.pane())).append(",\"paneIndex\":").append(r.paneIndex())
          .append(",\"changedAt\":").append(r.changedAtMillis()).append('}');
    }
    b.append("],\"deadLetters\":{\"topic\":").append(string(deadLetters.topic()))
        .append(",\"status\":").append(string(deadLetters.status())).append(",\"reasons\":[");
    first = true;
    for (Map.Entry<String, long[]> e : dead.entrySet()) {
      b.append(first ? "" : ",").append("{\"reason\":").append(string(e.getKey())).append(",\"counts\":");
      numbers(b, e.getValue()).append('}');
      first = false;
    }
    return b.append("]}}").toString();
  }

  private static StringBuilder numbers(StringBuilder b, long[] values) {
    b.append('[');
    for (int i = 0; i < values.length; i++) {
      b.append(i == 0 ? "" : ",").append(values[i]);
    }
    return b.append(']');
  }

  static String string(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '<' -> b.append("\\u003c");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }

  static Map<String, String> query(String raw) {
    Map<String, String> out = new HashMap<>();
    if (raw != null) {
      for (String pair : raw.split("&")) {
        int eq = pair.indexOf('=');
        if (eq > 0) {
          out.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
              URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
        }
      }
    }
    return out;
  }

  private static void send(HttpExchange exchange, int status, String type, byte[] body) throws IOException {
    exchange.getResponseHeaders().set("Content-Type", TYPES.getOrDefault(type, "application/json"));
    exchange.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
    exchange.sendResponseHeaders(status, body.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(body);
    }
  }

  /** The settings: defaults, then the CLICK_* environment, then --name=value flags. */
  static Map<String, String> settings(String[] args, Map<String, String> env) {
    Map<String, String> s = new HashMap<>();
    s.put("clickhouse-http", env.getOrDefault("CLICK_CLICKHOUSE_HTTP", "http://127.0.0.1:8123/"));
    s.put("table", env.getOrDefault("CLICK_CLICKHOUSE_TABLE", "analytics.product_clicks"));
    s.put("clickhouse-user", env.getOrDefault("CLICK_DASHBOARD_CLICKHOUSE_USER", "dashboard"));
    s.put("clickhouse-password-env", "CLICK_DASHBOARD_CLICKHOUSE_PASSWORD");
    s.put("span", env.getOrDefault("CLICK_DASHBOARD_SPAN", "PT24H"));
    s.put("allowed-hosts", env.getOrDefault("CLICK_DASHBOARD_ALLOWED_HOSTS", ""));
    s.put("bootstrap-servers", env.getOrDefault("CLICK_KAFKA_BOOTSTRAP", "127.0.0.1:9092"));
    s.put("kafka-properties", env.getOrDefault("CLICK_KAFKA_PROPERTIES", ""));
    s.put("dead-letter-topic", env.getOrDefault("CLICK_DEAD_LETTER_TOPIC", "clicks_dlq"));
    s.put("bind", env.getOrDefault("CLICK_DASHBOARD_BIND", "127.0.0.1"));
    s.put("port", env.getOrDefault("CLICK_DASHBOARD_PORT", "8090"));
    for (String arg : args) {
      int eq = arg.indexOf('=');
      String name = arg.startsWith("--") && eq > 2 ? arg.substring(2, eq) : null;
      if (name == null || !s.containsKey(name)) {
        throw new IllegalArgumentException("unknown argument '" + arg + "'; flags: --" + String.join("=, --",
            new java.util.TreeSet<>(s.keySet())) + "=");
      }
      s.put(name, arg.substring(eq + 1));
    }
    try {
      if (java.time.Duration.parse(s.get("span")).compareTo(java.time.Duration.ZERO) <= 0) {
        throw new IllegalArgumentException("--span must be positive, not " + s.get("span"));
      }
    } catch (java.time.format.DateTimeParseException e) {
      throw new IllegalArgumentException("--span must be an ISO-8601 duration such as PT24H, not '" + s.get("span")
          + "'");
    }
    return s;
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> settings;
    try {
      settings = settings(args, System.getenv());
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.exit(2);
      return;
    }
    DashboardServer dashboard = new DashboardServer(settings);
    dashboard.start();
    Runtime.getRuntime().addShutdownHook(new Thread(dashboard::stop));
    System.out.printf("click dashboard on http://%s:%d/ (table %s FINAL at %s, dead letters from %s at %s)%n",
        settings.get("bind"), dashboard.port(), settings.get("table"), settings.get("clickhouse-http"),
        settings.get("dead-letter-topic"), settings.get("bootstrap-servers"));
  }
}
