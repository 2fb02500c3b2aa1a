package dev.clickstream.pipeline.it;

import dev.clickstream.pipeline.ClickCountPipeline;
import dev.clickstream.pipeline.model.DeadLetter;
import dev.clickstream.pipeline.model.HostileInputTest;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.beam.sdk.PipelineResult;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;


/**
 * The hostile corpus through the real broker: each record, between two good clicks, goes through Kafka, a bounded
 * run, and out to the dead-letter topic with its reason and its exact bytes (the 1 MB one included); every good click
 * is counted in ClickHouse.
 */
@Tag("services")
@Tag("end-to-end")
class HostileInputIT {
  private static final String RUN = Long.toString(System.currentTimeMillis(), 36);
  private static final String TOPIC = "it_hostile_" + RUN;
  private static final String TABLE = "analytics.it_hostile_" + RUN;

  @Test
  void everyHostileRecordReachesTheDeadLetterTopicAndEveryGoodClickIsCounted() throws Exception {
    LocalStack.requireRunning();
    List<HostileInputTest.Case> corpus = HostileInputTest.corpus();
    long arrival = HostileInputTest.ARRIVAL;
    Properties admin = new Properties();
    admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, LocalStack.KAFKA);
    try (Admin a = Admin.create(admin)) {
      // The corpus's Kafka timestamps are fixed (2026-11-26T10:00Z): let the broker take them before that day too,
      // and keep them after it. Retention goes by record timestamps: with the broker's 7 days, a day more than a week
      // after that date saw the records deleted while the run was planned ("no messages has a timestamp ...").
      a.createTopics(List.of(new NewTopic(TOPIC, Optional.of(2), Optional.empty())
          .configs(Map.of("message.timestamp.after.max.ms", Long.toString(400L * 24 * 3600 * 1000),
              "retention.ms", "-1")))).all().get();
    }
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, LocalStack.KAFKA);
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    byte[] good = ("{\"product_id\":7,\"user_id\":1,\"timestamp\":" + arrival + "}").getBytes(StandardCharsets.UTF_8);
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
      for (HostileInputTest.Case c : corpus) {
        producer.send(new ProducerRecord<>(TOPIC, 0, arrival, null, good)).get();
        producer.send(new ProducerRecord<>(TOPIC, 0, arrival, null, c.value())).get();
        producer.send(new ProducerRecord<>(TOPIC, 1, arrival, null, good)).get();
      }
    }
    Instant from = Instant.ofEpochMilli(arrival);
    PipelineResult result = ClickCountPipeline.run(LocalStack.options(
        "--bootstrapServers=" + LocalStack.KAFKA, "--inputTopic=" + TOPIC, "--outputTopic=" + TOPIC + "_agg",
        "--deadLetterTopic=" + TOPIC + "_dlq", "--clickHouseUrl=" + LocalStack.CLICKHOUSE_JDBC,
        "--clickHouseTable=" + TABLE, "--from=" + from, "--to=" + from.plusSeconds(60)));
    assertThat(result.waitUntilFinish(), equalTo(PipelineResult.State.DONE));

    assertThat(LocalStack.finalCounts(TABLE), equalTo(Map.of(List.of(7L, arrival), 2L * corpus.size())));
    Map<String, String> expected = new TreeMap<>();
    corpus.forEach(c -> expected.put(c.file(), c.reason()));
    Map<String, String> actual = new TreeMap<>();
    for (ConsumerRecord<byte[], byte[]> r : LocalStack.readAll(TOPIC + "_dlq")) {
      String file = corpus.stream().filter(c -> Arrays.equals(c.value(), r.value() == null ? new byte[0] : r.value()))
          .map(HostileInputTest.Case::file).findFirst().orElse("a record not in the corpus");
      assertThat(file + " dead-lettered once", actual.put(file, LocalStack.header(r, DeadLetter.REASON_HEADER)),
          equalTo(null));
    }
    assertThat(actual, equalTo(expected));
  }
}
