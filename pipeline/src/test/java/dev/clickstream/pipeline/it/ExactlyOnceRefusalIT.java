package dev.clickstream.pipeline.it;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.empty;
import static org.hamcrest.Matchers.equalTo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code --kafkaExactlyOnce} where it cannot hold: KafkaIO's exactly-once sink keeps its state in the runner's
 * checkpoints, so a job that is not restored from its predecessor's cannot continue the sink. Each job is refused at
 * start with the reason (exit 2), the first as well as the second, instead of the first succeeding and every later one
 * failing with KafkaIO's "Kafka metadata exists for shard 0, but there is no stored state".
 */
@Tag("services")
class ExactlyOnceRefusalIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);

  // Two bounded jobs of the same interval in a row, as the DAG would start them, then a continuous one.
  @Test
  void everyJobIsRefusedWithTheReasonWhereNoCheckpointOutlivesIt() throws Exception {
    LocalStack.requireRunning();
    String topic = "it_eos_" + RUN;
    Instant from = Instant.now().minus(6, ChronoUnit.HOURS).truncatedTo(ChronoUnit.HOURS);
    LocalStack.generateInBackground("--topic", topic, "--start", from.toString(), "--duration", "PT1M",
        "--rate", "50", "--seed", "5").join();
    String[] common = {"--inputTopic=" + topic, "--outputTopic=" + topic + "_agg",
        "--deadLetterTopic=" + topic + "_dlq", "--clickHouseTable=analytics.it_eos_" + RUN,
        "--consumerGroup=it_eos_" + RUN, "--kafkaExactlyOnce=true"};
    for (int job = 1; job <= 2; job++) {
      String output = run(job, common, "--from=" + from, "--to=" + from.plus(1, ChronoUnit.MINUTES));
      assertThat("job " + job + ": " + output, output, containsString("exit 2"));
      assertThat(output, containsString("--kafkaExactlyOnce cannot be used with a bounded run"));
    }
    if (!LocalStack.onFlink()) {
      // On Flink a continuous job may use it: its checkpoints and savepoints carry the sink's state (FlinkRecoveryIT).
      String continuous = run(3, common);
      assertThat(continuous, containsString("exit 2"));
      assertThat(continuous, containsString("the DirectRunner keeps them in memory"));
    }
    // Refused before anything was written: no aggregates, no table.
    assertThat(LocalStack.readAll(topic + "_agg"), empty());
    assertThat(LocalStack.query("EXISTS TABLE analytics.it_eos_" + RUN).strip(), equalTo("0"));
  }

  private static String run(int job, String[] common, String... more) throws Exception {
    Path log = Files.createTempFile("eos-job-" + job + "-", ".log");
    String[] all = new String[common.length + more.length];
    System.arraycopy(common, 0, all, 0, common.length);
    System.arraycopy(more, 0, all, common.length, more.length);
    Process p = LocalStack.startPipeline(log, all);
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      return "still running after 120 s: " + Files.readString(log);
    }
    return "exit " + p.exitValue() + "\n" + Files.readString(log);
  }
}
