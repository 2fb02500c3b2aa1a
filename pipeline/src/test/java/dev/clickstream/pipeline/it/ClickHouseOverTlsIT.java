package dev.clickstream.pipeline.it;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.clickstream.generator.Oracle;
import dev.clickstream.pipeline.ClickCountPipeline;
import java.net.URI;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import org.apache.beam.sdk.PipelineResult;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * ClickHouse over HTTPS: the local server's HTTPS port, with the self-signed certificate local-stack.sh
 * made. One JDBC URL ({@code jdbc:clickhouse:https://...&sslrootcert=FILE}) serves ClickHouseIO's inserts and the
 * pipeline's own statements (DDL, schema check); without the certificate the pipeline does not start.
 */
@Tag("services")
class ClickHouseOverTlsIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);

  private static String url(boolean withCertificate) {
    return "jdbc:clickhouse:https://" + URI.create(LocalStack.CLICKHOUSE_HTTPS).getAuthority()
        + "/analytics?server_version=22.8.1&server_time_zone=UTC"
        + (withCertificate ? "&sslrootcert=" + LocalStack.CLICKHOUSE_CA.toAbsolutePath() : "");
  }

  private static String[] options(String topic, String url, Instant from) {
    return new String[] {"--bootstrapServers=" + LocalStack.KAFKA, "--clickHouseUrl=" + url,
        "--clickHouseTable=analytics." + topic, "--inputTopic=" + topic, "--outputTopic=" + topic + "_agg",
        "--deadLetterTopic=" + topic + "_dlq", "--from=" + from, "--to=" + from.plus(1, ChronoUnit.MINUTES)};
  }

  @Test
  void aBoundedRunWritesOverHttpsEqualToTheOracle() throws Exception {
    LocalStack.requireRunning();
    String topic = "it_tls_" + RUN;
    Instant from = Instant.now().minus(7, ChronoUnit.HOURS).truncatedTo(ChronoUnit.HOURS);
    Oracle oracle = LocalStack.generateInBackground("--topic", topic, "--start", from.toString(), "--duration",
        "PT1M", "--rate", "100", "--seed", "17").join();
    PipelineResult result = ClickCountPipeline.run(LocalStack.options(options(topic, url(true), from)));
    assertThat(result.waitUntilFinish(), equalTo(PipelineResult.State.DONE));
    assertThat(LocalStack.finalCounts("analytics." + topic), equalTo(LocalStack.expectedCounts(oracle)));
  }

  // The server's certificate is not trusted without sslrootcert: the start-up statements fail, saying so.
  @Test
  void anUntrustedCertificateStopsThePipelineAtStart() {
    LocalStack.requireRunning();
    String topic = "it_tls_untrusted_" + RUN;
    IllegalStateException refused = assertThrows(IllegalStateException.class, () -> ClickCountPipeline.run(
        LocalStack.options(options(topic, url(false), Instant.parse("2026-11-26T00:00:00Z")))));
    assertThat(refused.getMessage(), containsString("PKIX"));
  }
}
