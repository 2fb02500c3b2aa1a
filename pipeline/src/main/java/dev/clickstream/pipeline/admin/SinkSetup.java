package dev.clickstream.pipeline.admin;

import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.config.StartupRefusedException;
import dev.clickstream.pipeline.io.ClickHouseSchema;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The sinks made ready before a run: Kafka's topics and ClickHouse's table, created if missing, then checked. */
public final class SinkSetup {
  private static final Logger LOG = LoggerFactory.getLogger(SinkSetup.class);

  private SinkSetup() {}

  /**
   * Creates what is missing (unless {@code --createSchema=false}), then refuses to start if the ClickHouse table
   * differs from the DDL: a mismatched table would silently get zero rows.
   */
  public static void prepare(Settings s) {
    // Kafka's topics and ClickHouse's table are independent: prepared side by side, their first-use class loading and
    // round trips overlap on every start.
    CompletableFuture<Void> topics = CompletableFuture.runAsync(() -> {
      try {
        KafkaSetup.prepare(s.kafka(), s.createSchema()
            ? List.of(s.inputTopic(), s.outputTopic(), s.deadLetterTopic()) : List.of(), s.outputTopic());
      } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
        throw new CompletionException(e);
      }
    });
    ClickHouseHttp clickHouse = ClickHouseHttp.forSettings(s);
    try {
      if (s.createSchema()) {
        for (String statement : ClickHouseSchema.statements(s.table())) {
          clickHouse.execute(statement);
        }
      }
      Map<String, String> live = clickHouse.columns(s.table());
      if (live.isEmpty()) {
        throw new StartupRefusedException("ClickHouse table " + s.table() + " does not exist; create it from "
            + ClickHouseSchema.DDL_RESOURCE + " or run with --createSchema=true");
      }
      ClickHouseSchema.checkLiveColumns(s.table(), live);
      ClickHouseSchema.Layout layout = clickHouse.layout(s.table());
      if (layout != null && !layout.equals(ClickHouseSchema.declaredLayout())) {
        // An earlier version's table: the counts stay right, only reads of a time range cost more. Not a refusal.
        LOG.warn("ClickHouse table {} has an earlier layout ({}, not {}): its counts are right, but every read of a"
            + " time range reads the whole table. With the pipeline stopped, MigrateTable moves it to the new"
            + " layout (docs/scaling.md)", s.table(), layout, ClickHouseSchema.declaredLayout());
      }
      topics.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while preparing Kafka and ClickHouse", e);
    } catch (java.io.IOException | CompletionException e) {
      Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
      if (cause instanceof java.util.concurrent.ExecutionException && cause.getCause() != null) {
        cause = cause.getCause();
      }
      if (cause instanceof org.apache.kafka.common.errors.AuthenticationException) {
        // A wrong password or certificate: trying again will not help, a person must fix the settings.
        throw new StartupRefusedException("Kafka at " + s.kafka() + " refused the connection: " + cause.getMessage());
      }
      throw new IllegalStateException("cannot prepare Kafka and ClickHouse: " + cause.getMessage(), cause);
    }
  }

}
