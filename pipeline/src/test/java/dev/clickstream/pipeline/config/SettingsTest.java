package dev.clickstream.pipeline.config;

import dev.clickstream.pipeline.io.KafkaWrites;
import dev.clickstream.pipeline.launch.RunnerOptions;
import dev.clickstream.pipeline.model.Interval;
import java.util.List;
import org.junit.jupiter.api.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.allOf;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.endsWith;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.jupiter.api.Assertions.assertThrows;


class SettingsTest {

  private static Settings settings(String... args) {
    return Settings.from(RunnerOptions.parse(args));
  }

  private static String error(String... args) {
    return assertThrows(IllegalArgumentException.class, () -> settings(args)).getMessage();
  }

  @Test
  void defaultsAreAContinuousRunAgainstTheLocalStack() {
    Settings s = settings();
    assertThat(s.bounded(), equalTo(false));
    assertThat(s.inputTopic(), equalTo("clicks"));
    assertThat(s.outputTopic(), equalTo("aggregation_clicks"));
    assertThat(s.deadLetterTopic(), equalTo("clicks_dlq"));
    assertThat(s.hotKeyFanout(), equalTo(16));
    assertThat(s.partitionCheckInterval().getStandardSeconds(), equalTo(30L));
    assertThat(s.table(), equalTo(new Settings.TableName("analytics", "product_clicks")));
    assertThat(s.windowSize().getStandardSeconds(), equalTo(60L));
    assertThat(s.allowedLateness().getStandardSeconds(), equalTo(60L));
    assertThat(s.maxOutOfOrderness().getStandardSeconds(), equalTo(5L));
    assertThat(s.createSchema(), equalTo(true));
  }

  @Test
  void fromAndToMakeABoundedRun() {
    Settings s = settings("--from=2026-11-26T10:00:00Z", "--to=2026-11-26T10:05:00Z");
    assertThat(s.interval(), equalTo(new Interval(1_795_687_200_000L, 1_795_687_500_000L)));
  }

  @Test
  void theClickHouseUrlGetsTheJdkHttpClientUnlessItChoosesOne() {
    assertThat(settings().clickHouseUrl(), endsWith("&http_connection_provider=HTTP_URL_CONNECTION"));
    assertThat(settings("--clickHouseUrl=jdbc:clickhouse://h:8123/analytics").clickHouseUrl(),
        equalTo("jdbc:clickhouse://h:8123/analytics?custom_http_params=database%3Danalytics"
            + "&http_connection_provider=HTTP_URL_CONNECTION"));
    assertThat(settings("--clickHouseUrl=jdbc:clickhouse://h:8123/analytics?http_connection_provider=HTTP_CLIENT")
        .clickHouseUrl(), containsString("?http_connection_provider=HTTP_CLIENT&custom_http_params"));
  }

  // ClickHouseIO writes into the URL's database: the URL must name the table's database or none, and then gets it.
  @Test
  void theClickHouseUrlPointsAtTheTablesDatabaseOrIsRefused() {
    Settings noDatabase = settings("--clickHouseUrl=jdbc:clickhouse://h:8123?server_version=22.8.1",
        "--clickHouseTable=db2.clicks");
    assertThat(noDatabase.clickHouseUrl(), equalTo("jdbc:clickhouse://h:8123/db2?server_version=22.8.1"
        + "&custom_http_params=database%3Ddb2&http_connection_provider=HTTP_URL_CONNECTION"));
    assertThat(settings("--clickHouseUrl=jdbc:clickhouse://h:8123/?custom_http_params=max_threads%3D2",
        "--clickHouseTable=db2.clicks").clickHouseUrl(),
        containsString("/db2?custom_http_params=max_threads%3D2%2Cdatabase%3Ddb2&"));
    assertThat(error("--clickHouseTable=db2.product_clicks"), allOf(containsString("database 'analytics'"),
        containsString("--clickHouseTable is db2.product_clicks")));
    assertThat(error("--clickHouseUrl=jdbc:clickhouse://h:8123/db2?custom_http_params=database%3Danalytics",
        "--clickHouseTable=db2.t"), containsString("names the database 'analytics' but --clickHouseTable is db2.t"));
    assertThat(error("--clickHouseUrl=jdbc:clickhouse://h:8123/?database=x", "--clickHouseTable=db2.t"),
        containsString("names the database 'x'"));
  }

  @Test
  void aClickHouseUrlOverTlsIsReachedOverHttps() {
    assertThat(ClickHouseUrl.forTable("jdbc:clickhouse:https://h:8443/analytics",
        new Settings.TableName("analytics", "t")).httpEndpoint(), equalTo("https://h:8443/"));
    assertThat(ClickHouseUrl.forTable("jdbc:ch://h:8443/analytics?ssl=true",
        new Settings.TableName("analytics", "t")).httpEndpoint(), equalTo("https://h:8443/"));
    assertThat(settings().clickHouseUrl(), startsWith("jdbc:clickhouse://127.0.0.1:8123/analytics?"));
  }

  @Test
  void earlyToCountsTheWindowsAfterTheIntervalWithoutOwningThem() {
    Settings s = settings("--from=2026-11-26T10:00:00Z", "--to=2026-11-26T10:01:00Z", "--earlyTo=2026-11-26T10:03:00Z");
    assertThat(s.interval(), equalTo(new Interval(1_795_687_200_000L, 1_795_687_260_000L)));
    assertThat(s.countInterval(), equalTo(new Interval(1_795_687_200_000L, 1_795_687_380_000L)));
    assertThat(settings("--from=2026-11-26T10:00:00Z", "--to=2026-11-26T10:01:00Z", "--earlyTo=2026-11-26T10:01:00Z")
        .early(), equalTo(null));
    assertThat(error("--earlyTo=2026-11-26T10:03:00Z"), containsString("give --from and --to too"));
    assertThat(error("--from=2026-11-26T10:00:00Z", "--to=2026-11-26T10:01:00Z", "--earlyTo=2026-11-26T09:59:00Z"),
        containsString("--earlyTo must not be before --to"));
    assertThat(error("--from=2026-11-26T10:00:00Z", "--to=2026-11-26T10:01:00Z", "--earlyTo=2026-11-26T10:01:30Z"),
        containsString("--earlyTo must fall on a window boundary"));
  }

  // The properties file reaches every client's configuration; the settings print its path, never its secrets.
  @Test
  void aKafkaPropertiesFileConfiguresTheClientsAndIsNamedNotPrinted(@org.junit.jupiter.api.io.TempDir
      java.nio.file.Path dir) throws Exception {
    java.nio.file.Path file = dir.resolve("client.properties");
    java.nio.file.Files.writeString(file, "security.protocol=SASL_SSL\nsasl.jaas.config=x password=\"s3cret\";\n");
    Settings s = settings("--kafkaProperties=" + file, "--bootstrapServers=b:9094");
    assertThat(s.kafka().byteConsumer().getProperty("security.protocol"), equalTo("SASL_SSL"));
    assertThat(s.kafka().admin().getProperty("bootstrap.servers"), equalTo("b:9094"));
    assertThat(s.kafka().producerSettings().get("sasl.jaas.config"), equalTo("x password=\"s3cret\";"));
    assertThat(s.toString(), allOf(containsString(file.toString()), org.hamcrest.Matchers.not(containsString("s3cret"))));
    java.nio.file.Files.writeString(file, "bootstrap.servers=elsewhere:9092\n");
    assertThat(error("--kafkaProperties=" + file), containsString("sets bootstrap.servers, which the pipeline sets"));
    assertThat(error("--kafkaProperties=" + dir.resolve("missing")), containsString("cannot read the Kafka properties"));
  }

  @Test
  void durationsTakeMinutesAndHoursToo() {
    Settings s = settings("--windowSize=PT10M", "--allowedLateness=PT1M30S", "--maxOutOfOrderness=PT0.5S");
    assertThat(s.windowSize().getMillis(), equalTo(600_000L));
    assertThat(s.allowedLateness().getMillis(), equalTo(90_000L));
    assertThat(s.maxOutOfOrderness().getMillis(), equalTo(500L));
  }

  @Test
  void badValuesAreRejectedNamingTheOption() {
    assertThat(error("--from=2026-11-26T10:00:00Z"), containsString("both --from and --to"));
    assertThat(error("--from=2026-11-26T10:05:00Z", "--to=2026-11-26T10:00:00Z"), containsString("before --to"));
    assertThat(error("--from=2026-11-26T10:00:30Z", "--to=2026-11-26T10:05:00Z"),
        containsString("window boundaries"));
    assertThat(error("--from=yesterday", "--to=2026-11-26T10:05:00Z"), containsString("--from must be an ISO-8601"));
    assertThat(error("--windowSize=60"), containsString("--windowSize must be an ISO-8601 duration"));
    assertThat(error("--windowSize=PT0S"), containsString("--windowSize must be positive"));
    assertThat(error("--allowedLateness=PT-5S"), containsString("--allowedLateness must not be negative"));
    assertThat(error("--hotKeyFanout=0"), containsString("--hotKeyFanout must be an integer from 1"));
    assertThat(error("--hotKeyFanout=65"), containsString("--hotKeyFanout must be an integer from 1"));
    assertThat(error("--clickHouseUrl=http://h:8123"), containsString("--clickHouseUrl must be a ClickHouse JDBC URL"));
  }

  @Test
  void namesThatReachSqlOrKafkaAreValidated() {
    assertThat(error("--clickHouseTable=product_clicks"), containsString("database.table"));
    assertThat(error("--clickHouseTable=analytics.t; DROP TABLE x"), containsString("plain identifier"));
    assertThat(error("--clickHouseTable=analytics.`x`"), containsString("plain identifier"));
    assertThat(error("--clickHouseTable=a.b.c"), containsString("database.table"));
    assertThat(error("--inputTopic=clicks topic"), containsString("--inputTopic must be a Kafka topic name"));
    assertThat(error("--deadLetterTopic=.."), containsString("--deadLetterTopic must be a Kafka topic name"));
    assertThat(error("--outputTopic=" + "x".repeat(250)), containsString("--outputTopic"));
  }

  // The password comes from an environment variable named by an option (HOME stands in for it here): it reaches the
  // JDBC URL ClickHouseIO connects with, and never the settings' printed form or the options.
  @Test
  void theClickHousePasswordIsReadFromTheEnvironmentAndNeverPrinted() {
    String secret = System.getenv("HOME");
    Settings s = settings("--clickHouseUser=clicks", "--clickHousePasswordEnv=HOME");
    assertThat(s.clickHousePassword(), equalTo(secret));
    assertThat(s.clickHouseWriteUrl(), containsString("&user=clicks&password="
        + java.net.URLEncoder.encode(secret, java.nio.charset.StandardCharsets.UTF_8)));
    assertThat(s.toString(), org.hamcrest.Matchers.not(containsString(secret)));
    assertThat(s.toString(), containsString("clickHousePassword=(from the environment)"));
    assertThat(s.clickHouseUrl(), org.hamcrest.Matchers.not(containsString("password")));
    assertThat(error("--clickHousePasswordEnv=CLICK_NO_SUCH_VARIABLE"),
        containsString("CLICK_NO_SUCH_VARIABLE, which is not set"));
  }

  @Test
  void theKafkaSinksAreIdempotentProducersWithoutTransactions() {
    var write = KafkaWrites.of(KafkaClient.plain("127.0.0.1:9092"), "t");
    assertThat(write.isEOS(), equalTo(false));
    assertThat(write.getTopic(), equalTo("t"));
    assertThat(write.getProducerConfig().get("enable.idempotence"), equalTo(true));
    assertThat(write.getProducerConfig().get("acks"), equalTo("all"));
  }

  // The removed exactly-once flag is refused on every runner and mode, naming what replaced it, rather than ignored.
  @Test
  void theRemovedExactlyOnceFlagIsRefusedWithWhatReplacedIt() {
    for (String[] more : List.of(new String[] {}, new String[] {"--from=2026-11-26T10:00:00Z",
        "--to=2026-11-26T10:01:00Z"}, new String[] {"--runner=FlinkRunner"})) {
      List<String> args = new java.util.ArrayList<>(List.of("--kafkaExactlyOnce=true"));
      args.addAll(List.of(more));
      assertThat(error(args.toArray(String[]::new)), allOf(containsString("--kafkaExactlyOnce was removed"),
          containsString("keyed by product and window"), containsString("keep the largest")));
    }
    assertThat(settings("--kafkaExactlyOnce=false").bounded(), equalTo(false));
  }
}
