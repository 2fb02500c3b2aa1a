package dev.clickstream.dashboard;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** What the dashboard does without services: its settings, its JSON, its dead-letter windows, what the page ships. */
class DashboardServerTest {

  @Test
  void settingsComeFromTheSameClickEnvironmentAsTheDagThenFromFlags() {
    Map<String, String> s = DashboardServer.settings(new String[] {"--port=9999"},
        Map.of("CLICK_KAFKA_BOOTSTRAP", "127.0.0.1:19092", "CLICK_CLICKHOUSE_HTTP", "http://127.0.0.1:18123/",
            "CLICK_CLICKHOUSE_TABLE", "analytics.other", "CLICK_DASHBOARD_PORT", "1234"));
    assertThat(s.get("bootstrap-servers"), equalTo("127.0.0.1:19092"));
    assertThat(s.get("clickhouse-http"), equalTo("http://127.0.0.1:18123/"));
    assertThat(s.get("table"), equalTo("analytics.other"));
    assertThat(s.get("port"), equalTo("9999"));
    assertThat(s.get("bind"), equalTo("127.0.0.1"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> DashboardServer.settings(new String[] {"--prot=1"}, Map.of()));
    assertThat(e.getMessage(), containsString("--port="));
    assertThat(s.get("clickhouse-user"), equalTo("dashboard")); // its own read-only user, not the pipeline's
    assertThat(s.get("span"), equalTo("PT24H"));
    assertThat(assertThrows(IllegalArgumentException.class, () -> DashboardServer.settings(
        new String[] {"--span=1 day"}, Map.of())).getMessage(), containsString("ISO-8601"));
  }

  @Test
  void theTableMustBeAPlainNameSoThatNoSqlCanRideOnIt() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CountsQuery(
        URI.create("http://127.0.0.1:8123/"), "analytics.t FINAL; DROP TABLE x", null, null,
        java.time.Duration.ofHours(24)));
    assertThat(e.getMessage(), containsString("database.table"));
  }

  @Test
  void windowAndProductCountsAreBoundedBeforeAnyQuery() {
    CountsQuery q = new CountsQuery(URI.create("http://127.0.0.1:1/"), "analytics.t", null, null,
        java.time.Duration.ofHours(24));
    assertThrows(IllegalArgumentException.class, () -> q.snapshot(0, 5));
    assertThrows(IllegalArgumentException.class, () -> q.snapshot(10, CountsQuery.MAX_PRODUCTS + 1));
    assertThrows(IllegalArgumentException.class, () -> q.snapshot(CountsQuery.MAX_WINDOWS + 1, 5));
  }

  /**
   * A stand-in ClickHouse on a free port. A POST (the dashboard's check of its user) gets {@code readonly} as the
   * user's setting; every GET gets {@code status} with {@code body}. Each request's method and decoded query (a POST:
   * its body) go to {@code queries}.
   */
  private static HttpServer fakeClickHouse(String readonly, int status, String body, List<String> queries)
      throws IOException {
    HttpServer clickHouse = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    clickHouse.createContext("/", exchange -> {
      boolean post = exchange.getRequestMethod().equals("POST");
      queries.add(post ? "POST " + new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8)
          : "GET " + URLDecoder.decode(exchange.getRequestURI().getRawQuery(), StandardCharsets.UTF_8));
      byte[] answer = (post ? readonly + "\n" : body).getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(post ? 200 : status, answer.length);
      exchange.getResponseBody().write(answer);
      exchange.close();
    });
    clickHouse.start();
    return clickHouse;
  }

  /** A stand-in ClickHouse, read-only user, whose table does not exist yet (its text for that differs by version). */
  private static HttpServer clickHouseWithoutTheTable(String error, List<String> queries) throws IOException {
    return fakeClickHouse("1", 404, error, queries);
  }

  private static DashboardServer dashboard(HttpServer clickHouse, String... flags) throws IOException {
    List<String> args = new ArrayList<>(List.of("--port=0",
        "--clickhouse-http=http://127.0.0.1:" + clickHouse.getAddress().getPort() + "/", "--table=analytics.t",
        "--bootstrap-servers=127.0.0.1:1"));
    args.addAll(List.of(flags));
    DashboardServer dashboard = new DashboardServer(DashboardServer.settings(args.toArray(String[]::new), Map.of()));
    dashboard.start();
    return dashboard;
  }

  /** A GET of {@code path} with the given Host header, as a browser sends it; the status and the body. */
  private static String[] get(DashboardServer dashboard, String host, String path) throws IOException {
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", dashboard.port())) {
      socket.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
          .getBytes(StandardCharsets.US_ASCII));
      String response = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      return new String[] {response.substring(9, 12), response.substring(response.indexOf("\r\n\r\n") + 4)};
    }
  }

  @Test
  void aTableNoPipelineHasWrittenYetIsNoWindowsNotAnError() throws Exception {
    HttpServer clickHouse = clickHouseWithoutTheTable(
        "Code: 60. DB::Exception: Table analytics.t does not exist. (UNKNOWN_TABLE)", new ArrayList<>());
    try {
      CountsQuery q = new CountsQuery(URI.create("http://127.0.0.1:" + clickHouse.getAddress().getPort() + "/"),
          "analytics.t", null, null, java.time.Duration.ofHours(24));
      assertThat(q.snapshot(10, 5).windows(), equalTo(List.of()));
    } finally {
      clickHouse.stop(0);
    }
  }

  @Test
  void theServerAnswersOnlyItsPageAndGetsOfItsEndpointWithBoundedIntegers() throws Exception {
    List<String> queries = new CopyOnWriteArrayList<>();
    HttpServer clickHouse = clickHouseWithoutTheTable(
        "Code: 60, e.displayText() = DB::Exception: Table analytics.t doesn't exist.", queries);
    DashboardServer dashboard = dashboard(clickHouse);
    java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
    String base = "http://127.0.0.1:" + dashboard.port();
    java.util.function.BiFunction<String, String, java.net.http.HttpResponse<String>> call = (method, path) -> {
      try {
        return http.send(java.net.http.HttpRequest.newBuilder(URI.create(base + path))
                .method(method, java.net.http.HttpRequest.BodyPublishers.noBody()).build(),
            java.net.http.HttpResponse.BodyHandlers.ofString());
      } catch (IOException | InterruptedException e) {
        throw new AssertionError(e);
      }
    };
    try {
      java.net.http.HttpResponse<String> ok = call.apply("GET", "/api/counts?windows=3&products=2");
      assertThat(ok.body(), ok.statusCode(), equalTo(200));
      assertThat(ok.body(), containsString("\"windows\":[]"));
      assertThat(queries.size(), equalTo(2));
      assertThat(queries.get(0), containsString("POST SELECT value FROM system.settings WHERE name = 'readonly'"));
      assertThat(queries.get(1), containsString("FROM analytics.t FINAL WHERE timestamp >= "));
      assertThat(queries.get(1), containsString("LIMIT 3"));
      assertThat(queries.get(1), startsWith("GET query=SELECT ")); // a GET: ClickHouse runs it read-only

      assertThat(call.apply("GET", "/api/counts?windows=3;DROP&products=2").statusCode(), equalTo(400));
      assertThat(call.apply("GET", "/api/counts?windows=100000").statusCode(), equalTo(400));
      assertThat(call.apply("POST", "/api/counts?windows=3").statusCode(), equalTo(405));
      assertThat(call.apply("GET", "/../pom.xml").statusCode(), equalTo(404));
      assertThat(call.apply("GET", "/vendor/../index.html").statusCode(), equalTo(404));
      java.net.http.HttpResponse<String> page = call.apply("GET", "/");
      assertThat(page.statusCode(), equalTo(200));
      assertThat(page.body(), containsString("uPlot.iife.min.js"));
      assertThat(queries.size(), equalTo(2)); // no refused request reached ClickHouse
    } finally {
      dashboard.stop();
      clickHouse.stop(0);
    }
  }

  @Test
  void everyQueryOfTheTableIsBoundedInTime() throws Exception {
    List<String> queries = new CopyOnWriteArrayList<>();
    long now = System.currentTimeMillis();
    String windows = (now - 120_000) + "\t" + (now - 60_000) + "\t7\n";
    HttpServer clickHouse = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    clickHouse.createContext("/", exchange -> {
      String sql = exchange.getRequestMethod().equals("POST") ? "readonly"
          : URLDecoder.decode(exchange.getRequestURI().getRawQuery(), StandardCharsets.UTF_8);
      queries.add(sql);
      String answer = sql.equals("readonly") ? "1\n" : sql.contains("max(window_end)") ? windows
          : sql.contains("_settled") ? "0\n" : sql.contains("sum(count) AS clicks") ? "3\t7\n"
          : sql.contains("pane_timing") ? "3\t7\tON_TIME\t0\n" : "3\t" + (now - 120_000) + "\t7\n";
      byte[] body = answer.getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    clickHouse.start();
    try {
      CountsQuery q = new CountsQuery(URI.create("http://127.0.0.1:" + clickHouse.getAddress().getPort() + "/"),
          "analytics.t", null, null, java.time.Duration.ofHours(6));
      CountsQuery.Snapshot snapshot = q.snapshot(10, 5);
      assertThat(snapshot.windows().size(), equalTo(1));
      List<String> ofTheTable = queries.stream().filter(s -> s.contains("FROM analytics.t FINAL")).toList();
      assertThat(ofTheTable.size(), equalTo(4));
      for (String sql : ofTheTable) {
        Matcher since = Pattern.compile("timestamp (>=|=) (\\d+)").matcher(sql);
        assertThat(sql, since.find(), equalTo(true));
        assertThat(sql, Long.parseLong(since.group(2)) >= now - 6 * 3_600_000L, equalTo(true));
      }
    } finally {
      clickHouse.stop(0);
    }
  }

  @Test
  void aUserThatMayWriteIsRefusedBeforeAnyQueryOfTheTable() throws Exception {
    List<String> queries = new CopyOnWriteArrayList<>();
    HttpServer clickHouse = fakeClickHouse("0", 200, "", queries);
    DashboardServer dashboard = dashboard(clickHouse);
    try {
      String[] answer = get(dashboard, "127.0.0.1", "/api/counts?windows=3&products=2");
      assertThat(answer[0], equalTo("503"));
      assertThat(answer[1], containsString("may write (readonly=0)"));
      assertThat(queries.size(), equalTo(1));
      assertThat(queries.get(0), startsWith("POST "));
    } finally {
      dashboard.stop();
      clickHouse.stop(0);
    }
  }

  @Test
  void whatClickHouseSaysOnAFailureStaysInTheLog() throws Exception {
    HttpServer clickHouse = fakeClickHouse("1", 500,
        "Code: 516. DB::Exception: secret_user: Authentication failed: password is incorrect", new ArrayList<>());
    DashboardServer dashboard = dashboard(clickHouse);
    try {
      String[] answer = get(dashboard, "localhost:8090", "/api/counts?windows=3&products=2");
      assertThat(answer[0], equalTo("502"));
      assertThat(answer[1], equalTo("{\"error\":\"cannot read ClickHouse (the dashboard's log says why)\"}"));
    } finally {
      dashboard.stop();
      clickHouse.stop(0);
    }
  }

  // A page on another site can point a DNS name of its own at 127.0.0.1 and have the browser call the dashboard
  // under that name: the Host header gives it away.
  @Test
  void requestsForAnotherHostNameAreRefused() throws Exception {
    List<String> queries = new CopyOnWriteArrayList<>();
    HttpServer clickHouse = clickHouseWithoutTheTable("Code: 60. DB::Exception: (UNKNOWN_TABLE)", queries);
    DashboardServer dashboard = dashboard(clickHouse, "--allowed-hosts=dashboard.example.org");
    try {
      assertThat(get(dashboard, "rebind.attacker.example:8090", "/api/counts")[0], equalTo("421"));
      assertThat(get(dashboard, "rebind.attacker.example", "/")[0], equalTo("421"));
      assertThat(get(dashboard, "", "/")[0], equalTo("421"));
      assertThat(queries.size(), equalTo(0));
      assertThat(get(dashboard, "rebind.attacker.example", "/healthz")[0], equalTo("200"));
      for (String host : List.of("127.0.0.1:8090", "localhost", "LOCALHOST:1", "[::1]:8090", "dashboard.example.org")) {
        assertThat(host, get(dashboard, host, "/")[0], equalTo("200"));
      }
    } finally {
      dashboard.stop();
      clickHouse.stop(0);
    }
    assertThat(DashboardServer.hostName("[::1]:8090"), equalTo("[::1]"));
    assertThat(DashboardServer.hostName("Example.org:80"), equalTo("example.org"));
    assertThat(DashboardServer.allowedHosts("0.0.0.0", "").contains("0.0.0.0"), equalTo(false));
    assertThat(DashboardServer.allowedHosts("10.0.0.5", " a.example , ").contains("10.0.0.5"), equalTo(true));
    assertThat(DashboardServer.allowedHosts("10.0.0.5", " a.example , ").contains("a.example"), equalTo(true));
  }

  @Test
  void stringsAreEscapedForJsonAndForTheScriptTagAlike() {
    assertThat(DashboardServer.string("a\"b\\c\n</script>"), equalTo("\"a\\\"b\\\\c\\u000a\\u003c/script>\""));
    assertThat(DashboardServer.query("windows=12&products=%35&x"), equalTo(Map.of("windows", "12", "products", "5")));
  }

  @Test
  void deadLettersLandInTheWindowOfTheirSourceTimestampPerReason() {
    DeadLetterTail tail = new DeadLetterTail("127.0.0.1:1", "dlq", new Properties());
    try {
      tail.add("malformed_json", 60_000);
      tail.add("malformed_json", 119_999);
      tail.add("too_late", 120_000);
      tail.add("too_late", 1_000); // before the windows shown
      Map<String, long[]> perWindow = tail.perWindow(List.of(new CountsQuery.Window(60_000, 120_000, 0),
          new CountsQuery.Window(120_000, 180_000, 0)));
      assertThat(perWindow.keySet(), equalTo(java.util.Set.of("malformed_json", "too_late")));
      assertArrayEquals(new long[] {2, 0}, perWindow.get("malformed_json"));
      assertArrayEquals(new long[] {0, 1}, perWindow.get("too_late"));
    } finally {
      tail.close();
    }
  }

  @Test
  void thePageShipsTheChartingLibraryVersionThatPackageJsonPins() throws IOException {
    String packageJson = Files.readString(Path.of("package.json"));
    Matcher pinned = Pattern.compile("\"uplot\": \"(\\d+\\.\\d+\\.\\d+)\"").matcher(packageJson);
    assertThat(packageJson, pinned.find(), equalTo(true));
    try (InputStream in = DashboardServer.class.getResourceAsStream("/web/vendor/uPlot.iife.min.js")) {
      String banner = new String(in.readNBytes(100), StandardCharsets.UTF_8);
      assertThat(banner, containsString("(v" + pinned.group(1) + ")"));
    }
    for (String page : List.of("/web/index.html", "/web/dashboard.js")) {
      try (InputStream in = DashboardServer.class.getResourceAsStream(page)) {
        String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        assertThat(page + " loads nothing from elsewhere", text.contains("http://") || text.contains("https://"),
            equalTo(false));
      }
    }
  }
}
