package dev.clickstream.pipeline.it;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.clickstream.generator.ClickGenerator;
import dev.clickstream.generator.GeneratorConfig;
import dev.clickstream.generator.Oracle;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A secured Kafka: the local broker's SASL_SSL listener (SASL/PLAIN over TLS, a certificate made with
 * keytool by local-stack.sh), reached with a Kafka properties file by the generator ({@code --command-config}) and by
 * the pipeline ({@code --kafkaProperties}): every client, reader, writer and admin alike. A bounded and a continuous
 * run through it equal the oracle (on Flink the aggregates' largest and newest per key too); the password is
 * never on a command line or in the output; a wrong password stops the pipeline at start, saying why.
 */
@Tag("services")
class SecuredKafkaIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);
  private static final Path PROPERTIES = LocalStack.KAFKA_SASL_PROPERTIES.toAbsolutePath();

  private static String password() throws Exception {
    Matcher m = Pattern.compile("password=\"([^\"]+)\"").matcher(Files.readString(PROPERTIES));
    assertTrue(m.find(), "no SASL password in " + PROPERTIES + ": start the stack with services/local-stack.sh");
    return m.group(1);
  }

  /** The generator, through the SASL_SSL listener. */
  private static Oracle generate(String topic, String... flags) throws Exception {
    List<String> all = new java.util.ArrayList<>(List.of("--bootstrap-servers", LocalStack.KAFKA_SASL,
        "--command-config", PROPERTIES.toString(), "--topic", topic));
    all.addAll(List.of(flags));
    ClickGenerator.Summary s = ClickGenerator.run(GeneratorConfig.parse(all.toArray(new String[0])),
        new PrintStream(System.err, true));
    assertTrue(s.ok(), "Kafka did not acknowledge every record written through SASL_SSL");
    return s.oracle();
  }

  private static String[] options(String name, String... more) {
    List<String> all = new java.util.ArrayList<>(List.of("--kafkaProperties=" + PROPERTIES,
        "--inputTopic=" + name, "--outputTopic=" + name + "_agg", "--deadLetterTopic=" + name + "_dlq",
        "--clickHouseTable=analytics." + name, "--consumerGroup=" + name));
    all.addAll(List.of(more));
    return all.toArray(new String[0]);
  }

  private static void assertNoPassword(Process p, Path log) throws Exception {
    String password = password();
    assertThat(Files.readString(log), not(containsString(password)));
    p.info().arguments().ifPresent(args -> assertThat(String.join(" ", args), not(containsString(password))));
  }

  @Test
  void aBoundedRunThroughSaslSslEqualsTheOracle() throws Exception {
    LocalStack.requireRunning();
    String name = "it_sasl_b_" + RUN;
    Instant from = Instant.now().minus(4, ChronoUnit.HOURS).truncatedTo(ChronoUnit.HOURS);
    Oracle oracle = generate(name, "--start", from.toString(), "--duration", "PT2M", "--rate", "200",
        "--late-fraction", "0.05", "--malformed-fraction", "0.01", "--seed", "31");
    Path log = Files.createTempFile("sasl-bounded-", ".log");
    Process p = LocalStack.startPipelineOn(LocalStack.KAFKA_SASL, log, options(name, "--from=" + from,
        "--to=" + from.plus(2, ChronoUnit.MINUTES)));
    assertTrue(p.waitFor(3, TimeUnit.MINUTES), "the bounded run did not end");
    assertNoPassword(p, log);
    assertThat(Files.readString(log), p.exitValue(), equalTo(0));
    assertThat(LocalStack.finalCounts("analytics." + name), equalTo(LocalStack.expectedCounts(oracle)));
    // The sinks wrote through the same listener: aggregates and dead letters are there.
    assertThat(LocalStack.largestAggregates(name + "_agg"), equalTo(LocalStack.expectedCounts(oracle)));
    assertThat((long) LocalStack.readAll(name + "_dlq").size(), equalTo(oracle.malformed() + oracle.tooLateArrivedBeforeTo()));
  }

  @Test
  void aContinuousRunThroughSaslSslEqualsTheOracle() throws Exception {
    LocalStack.requireRunning();
    String name = "it_sasl_c_" + RUN;
    Path log = Files.createTempFile("sasl-continuous-", ".log");
    CompletableFuture<Oracle> clicks = CompletableFuture.supplyAsync(() -> {
      try {
        return generate(name, "--start", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString(), "--pace", "real",
            "--duration", "PT20S", "--rate", "100", "--window-size", "PT5S", "--allowed-lateness", "PT10S",
            "--seed", "32");
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    List<String> more = new java.util.ArrayList<>(List.of("--windowSize=PT5S", "--allowedLateness=PT10S",
        "--maxOutOfOrderness=PT1S"));
    Process p = LocalStack.startPipelineOn(LocalStack.KAFKA_SASL, log, options(name, more.toArray(new String[0])));
    try {
      Map<List<Long>, Long> expected = LocalStack.expectedCounts(clicks.get(2, TimeUnit.MINUTES));
      Map<List<Long>, Long> actual = LocalStack.awaitCounts("analytics." + name, expected, p,
          java.time.Duration.ofSeconds(90));
      assertThat(Files.readString(log), actual, equalTo(expected));
      if (LocalStack.onFlink()) {
        LocalStack.awaitAggregates(name + "_agg", expected);
      }
      assertNoPassword(p, log);
    } finally {
      p.destroy();
      p.waitFor(30, TimeUnit.SECONDS);
    }
  }

  // The same file with another password: refused at start (exit 2), with Kafka's reason, not retried for ever.
  @Test
  void aWrongPasswordStopsThePipelineAtStartSayingWhy() throws Exception {
    LocalStack.requireRunning();
    Path wrong = Files.createTempFile("wrong-sasl-", ".properties");
    Files.writeString(wrong, Files.readString(PROPERTIES).replaceAll("password=\"[^\"]+\"", "password=\"not-it\""),
        StandardCharsets.UTF_8);
    Path log = Files.createTempFile("sasl-wrong-", ".log");
    String name = "it_sasl_w_" + RUN;
    List<String> options = new java.util.ArrayList<>(List.of(options(name)));
    options.set(0, "--kafkaProperties=" + wrong);
    Process p = LocalStack.startPipelineOn(LocalStack.KAFKA_SASL, log, options.toArray(new String[0]));
    assertTrue(p.waitFor(90, TimeUnit.SECONDS), "still running 90 s after start with a wrong password");
    String output = Files.readString(log);
    assertThat(output, p.exitValue(), equalTo(2));
    assertThat(output, containsString("refused the connection"));
    assertThat(output, containsString("Authentication failed"));
    assertThat(output, not(containsString("not-it")));
  }
}
