package dev.clickstream.pipeline;

import dev.clickstream.pipeline.admin.SinkSetup;
import dev.clickstream.pipeline.config.ClickCountOptions;
import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.launch.RunnerOptions;

/**
 * Creates the Kafka topics and the ClickHouse database and table if they are missing, checks the live table against
 * the DDL, and exits: the pipeline's own start-up step on its own, for orchestrators that want it as a separate
 * task. Takes the pipeline's options ({@link ClickCountOptions}); exit status 0 when everything is in place.
 */
public final class PrepareSinks {
  private PrepareSinks() {}

  public static void main(String[] args) {
    try {
      Settings settings = Settings.from(RunnerOptions.parse(args));
      if (!settings.createSchema()) {
        throw new IllegalArgumentException("PrepareSinks creates the schema: do not pass --createSchema=false");
      }
      SinkSetup.prepare(settings);
      System.out.println("topics " + settings.inputTopic() + ", " + settings.outputTopic() + ", "
          + settings.deadLetterTopic() + " and table " + settings.table() + " are in place");
    } catch (IllegalArgumentException | IllegalStateException e) {
      System.err.println("prepare-sinks: " + e.getMessage());
      System.exit(2);
    }
  }
}
