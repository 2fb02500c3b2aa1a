package dev.clickstream.pipeline.it;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.allOf;
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
 * Rows go exactly where the start-up checks looked: the database of {@code --clickHouseTable}, whatever the URL's
 * default. ClickHouseIO's writer only gets the table's name, so a URL naming another database would send the rows
 * there while the checks looked at the table.
 */
@Tag("services")
class ClickHouseTargetIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);
  private static final String DATABASE = "it_db_" + RUN;
  private static final String TABLE_NAME = "clicks_" + RUN;

  // A URL naming analytics with a table in another database: refused at start, naming both; nothing is created.
  @Test
  void aUrlWhoseDatabaseContradictsTheTableIsRefusedNamingBoth() throws Exception {
    LocalStack.requireRunning();
    IllegalArgumentException refused = assertThrows(IllegalArgumentException.class, () -> ClickCountPipeline.run(
        LocalStack.options("--bootstrapServers=" + LocalStack.KAFKA,
            "--clickHouseUrl=" + LocalStack.CLICKHOUSE_JDBC, "--clickHouseTable=" + DATABASE + ".refused",
            "--inputTopic=it_target_refused_" + RUN, "--from=2026-11-26T00:00:00Z", "--to=2026-11-26T00:01:00Z")));
    assertThat(refused.getMessage(), allOf(containsString("names the database 'analytics'"),
        containsString("--clickHouseTable is " + DATABASE + ".refused")));
    assertThat(LocalStack.query("EXISTS TABLE " + DATABASE + ".refused").strip(), equalTo("0"));
  }

  // A URL naming no database and a table in another one: the rows land in that table, and nowhere in analytics.
  @Test
  void aUrlWithoutDatabaseWritesIntoTheTablesDatabase() throws Exception {
    LocalStack.requireRunning();
    String topic = "it_target_" + RUN;
    Instant from = Instant.now().minus(5, ChronoUnit.HOURS).truncatedTo(ChronoUnit.HOURS);
    Oracle oracle = LocalStack.generateInBackground("--topic", topic, "--start", from.toString(), "--duration",
        "PT2M", "--rate", "100", "--malformed-fraction", "0.02", "--seed", "21").join();
    String url = "jdbc:clickhouse://" + URI.create(LocalStack.CLICKHOUSE_HTTP).getAuthority()
        + "?server_version=22.8.1&server_time_zone=UTC";
    PipelineResult result = ClickCountPipeline.run(LocalStack.options(
        "--bootstrapServers=" + LocalStack.KAFKA, "--clickHouseUrl=" + url,
        "--clickHouseTable=" + DATABASE + "." + TABLE_NAME, "--inputTopic=" + topic,
        "--outputTopic=" + topic + "_agg", "--deadLetterTopic=" + topic + "_dlq",
        "--from=" + from, "--to=" + from.plus(2, ChronoUnit.MINUTES)));
    assertThat(result.waitUntilFinish(), equalTo(PipelineResult.State.DONE));
    assertThat(LocalStack.finalCounts(DATABASE + "." + TABLE_NAME), equalTo(LocalStack.expectedCounts(oracle)));
    assertThat(LocalStack.query("EXISTS TABLE analytics." + TABLE_NAME).strip(), equalTo("0"));
  }
}
