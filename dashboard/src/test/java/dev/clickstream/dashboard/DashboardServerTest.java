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
  }

  @Test
  void theTableMustBeAPlainNameSoThatNoSqlCanRideOnIt() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CountsQuery(
        URI.create("http://127.0.0.1:8123/"), "analytics.t FINAL; DROP TABLE x", null, null));
    assertThat(e.getMessage(), containsString("database.table"));
  }

  @Test
  void windowAndProductCountsAreBoundedBeforeAnyQuery() {
    CountsQuery q = new CountsQuery(URI.create("http://127.0.0.1:1/"), "analytics.t", null, null);
    assertThrows(IllegalArgumentException.class, () -> q.snapshot(0, 5));
    assertThrows(IllegalArgumentException.class, () -> q.snapshot(10, CountsQuery.MAX_PRODUCTS + 1));
    assertThrows(IllegalArgumentException.class, () -> q.snapshot(CountsQuery.MAX_WINDOWS + 1, 5));
  }

  /**
   * A stand-in ClickHouse on a free port whose table does not exist yet: every query gets 404 with {@code error}
   * (ClickHouse's text for it differs between versions); each request's method and decoded query go to
   * {@code queries}.
   */
  private static HttpServer clickHouseWithoutTheTable(String error, List<String> queries) throws IOException {
    HttpServer clickHouse = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    clickHouse.createContext("/", exchange -> {
      queries.add(exchange.getRequestMethod() + " "
          + URLDecoder.decode(exchange.getRequestURI().getRawQuery(), StandardCharsets.UTF_8));
      byte[] body = error.getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(404, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    clickHouse.start();
    return clickHouse;
  }

  @Test
  void aTableNoPipelineHasWrittenYetIsNoWindowsNotAnError() throws Exception {
    HttpServer clickHouse = clickHouseWithoutTheTable(
        "Code: 60. DB::Exception: Table analytics.t does not exist. (UNKNOWN_TABLE)", new ArrayList<>());
    try {
      CountsQuery q = new CountsQuery(URI.create("http://127.0.0.1:" + clickHouse.getAddress().getPort() + "/"),
          "analytics.t", null, null);
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
    DashboardServer dashboard = new DashboardServer(DashboardServer.settings(new String[] {"--port=0",
        "--clickhouse-http=http://127.0.0.1:" + clickHouse.getAddress().getPort() + "/", "--table=analytics.t",
        "--bootstrap-servers=127.0.0.1:1"}, Map.of()));
    dashboard.start();
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
      assertThat(queries.size(), equalTo(1));
      assertThat(queries.get(0), containsString("FROM analytics.t FINAL"));
      assertThat(queries.get(0), containsString("LIMIT 3"));
      assertThat(queries.get(0), startsWith("GET query=SELECT ")); // a GET: ClickHouse runs it read-only

      assertThat(call.apply("GET", "/api/counts?windows=3;DROP&products=2").statusCode(), equalTo(400));
      assertThat(call.apply("GET", "/api/counts?windows=100000").statusCode(), equalTo(400));
      assertThat(call.apply("POST", "/api/counts?windows=3").statusCode(), equalTo(405));
      assertThat(call.apply("GET", "/../pom.xml").statusCode(), equalTo(404));
      assertThat(call.apply("GET", "/vendor/../index.html").statusCode(), equalTo(404));
      java.net.http.HttpResponse<String> page = call.apply("GET", "/");
      assertThat(page.statusCode(), equalTo(200));
      assertThat(page.body(), containsString("uPlot.iife.min.js"));
      assertThat(queries.size(), equalTo(1)); // no refused request reached ClickHouse
    } finally {
      dashboard.stop();
      clickHouse.stop(0);
    }
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
