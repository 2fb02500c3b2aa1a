package dev.clickstream.pipeline.it;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.not;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clickstream.generator.ClickGenerator;
import dev.clickstream.generator.GeneratorConfig;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A ClickHouse user with a password (made up for this test, never stored in the repository): the pipeline reads the
 * password from the environment variable named by --clickHousePasswordEnv, writes with it, and the password appears
 * neither in the process list (the JVM's command line) nor in anything the pipeline prints (its settings, its log,
 * its summary).
 */
@Tag("services")
class SecretsIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);
  private static final String USER = "it_secret_" + RUN;
  private static final String TABLE = "analytics.it_secret_" + RUN;

  private static Path usersDirectory() {
    String stack = System.getenv("STACK_DIR");
    return Path.of(stack != null ? stack : "../.local-stack", "clickhouse", "users.d");
  }

  private static boolean canLogIn(String password) throws Exception {
    HttpRequest request = HttpRequest.newBuilder(URI.create(LocalStack.CLICKHOUSE_HTTP))
        .header("Authorization", "Basic " + Base64.getEncoder().encodeToString(
            (USER + ":" + password).getBytes(StandardCharsets.UTF_8)))
        .POST(HttpRequest.BodyPublishers.ofString("SELECT 1")).build();
    return HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
  }

  @Test
  void thePasswordIsUsedButNeverShown() throws Exception {
    LocalStack.requireRunning();
    String password = "pw-" + UUID.randomUUID();
    String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
        .digest(password.getBytes(StandardCharsets.UTF_8)));
    Path usersFile = usersDirectory().resolve(USER + ".xml");
    Files.createDirectories(usersFile.getParent());
    Files.writeString(usersFile, "<yandex><users><" + USER + "><password_sha256_hex>" + hash
        + "</password_sha256_hex><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile>"
        + "<quota>default</quota></" + USER + "></users></yandex>\n");
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (!canLogIn(password)) { // ClickHouse reloads its users' files every few seconds
        assertTrue(System.nanoTime() < deadline, "ClickHouse did not load " + usersFile);
        Thread.sleep(1000);
      }
      assertThat(canLogIn("wrong"), equalTo(false));

      String topic = "it_secret_clicks_" + RUN;
      Instant from = Instant.now().minus(2, ChronoUnit.HOURS).truncatedTo(ChronoUnit.HOURS);
      assertTrue(ClickGenerator.run(GeneratorConfig.parse("--bootstrap-servers", LocalStack.KAFKA, "--topic", topic,
          "--start", from.toString(), "--duration", "PT1M", "--rate", "100"), new PrintStream(System.err, true)).ok());

      Path log = Path.of("target", "secrets-" + RUN + ".log");
      List<String> command = new java.util.ArrayList<>(List.of("java", "-Xmx512m", "-cp",
          System.getProperty("bundledJar"), "dev.clickstream.pipeline.ClickCountPipeline",
          "--bootstrapServers=" + LocalStack.KAFKA, "--clickHouseUrl=" + LocalStack.CLICKHOUSE_JDBC,
          "--clickHouseUser=" + USER, "--clickHousePasswordEnv=IT_CLICKHOUSE_PASSWORD", "--inputTopic=" + topic,
          "--outputTopic=" + topic + "_agg", "--deadLetterTopic=" + topic + "_dlq", "--clickHouseTable=" + TABLE,
          "--from=" + from, "--to=" + from.plus(1, ChronoUnit.MINUTES)));
      command.addAll(LocalStack.runnerOptions());
      ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
      builder.environment().put("IT_CLICKHOUSE_PASSWORD", password);
      Process pipeline = builder.start();
      // The process list: what `ps` shows of the JVM is its command line.
      String commandLine = Files.readString(Path.of("/proc", Long.toString(pipeline.pid()), "cmdline"))
          .replace('\0', ' ');
      assertThat(commandLine, containsString("--clickHousePasswordEnv=IT_CLICKHOUSE_PASSWORD"));
      assertThat(commandLine, not(containsString(password)));
      assertTrue(pipeline.waitFor(180, TimeUnit.SECONDS), "the bounded run did not end");
      String output = Files.readString(log);
      assertThat(output, pipeline.exitValue(), equalTo(0));
      assertThat(output, containsString("clickHousePassword=(from the environment)"));
      assertThat(output, containsString("click-count bounded run"));
      assertThat(output, not(containsString(password)));
      assertThat(LocalStack.finalCounts(TABLE).size(), greaterThan(0));
      if (LocalStack.RUNNER.equals("flink")) {
        // The session cluster shows a job's configuration (Beam's options among it) in its REST API and web UI, and
        // the TaskManager logs the clients' settings: the password must be in neither.
        String jobId = LocalStack.newestFlinkJob("").path("jid").asText();
        assertThat(LocalStack.flinkRest("/jobs/" + jobId + "/config").toString(), not(containsString(password)));
        Path taskManagerLog = usersDirectory().getParent().getParent().resolve("flink/log/taskmanager.log");
        assertThat(Files.readString(taskManagerLog), not(containsString(password)));
      }
    } finally {
      Files.deleteIfExists(usersFile);
    }
  }
}
