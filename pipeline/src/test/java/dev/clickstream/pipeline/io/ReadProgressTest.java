package dev.clickstream.pipeline.io;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;

/** The progress line of a bounded run, from what the consumers' polls returned, without a broker. */
class ReadProgressTest {

  private static ConsumerRecord<byte[], byte[]> record(String topic, int partition, long offset) {
    return new ConsumerRecord<>(topic, partition, offset, null, new byte[0]);
  }

  @Test
  void eachPollCountsPerPartitionAndARangeNeverShowsMoreThanItHolds() {
    String topic = "progress_test_" + System.nanoTime();
    TopicPartition p0 = new TopicPartition(topic, 0);
    TopicPartition p1 = new TopicPartition(topic, 1);
    ReadProgress.Interceptor interceptor = new ReadProgress.Interceptor();
    interceptor.onConsume(new ConsumerRecords<>(Map.of(p0, List.of(record(topic, 0, 10), record(topic, 0, 11)),
        p1, List.of(record(topic, 1, 5)))));
    // A read bounded by a record count can poll past its range: partition 1's range holds 2 records.
    interceptor.onConsume(new ConsumerRecords<>(Map.of(p1, List.of(record(topic, 1, 6), record(topic, 1, 7)))));
    Map<Integer, Long> planned = new TreeMap<>(Map.of(0, 4L, 1, 2L));
    assertThat(ReadProgress.Reporter.line(topic, planned, 2.0),
        equalTo("progress: read 4 of 6 records (66%): partition 0 2/4, partition 1 2/2; 2 records/s, 2.0 s"));
    assertThat(ReadProgress.Reporter.done(topic, planned), equalTo(false));
  }

  @Test
  void itSaysOneHundredPercentAndDoneOnlyWhenEveryRecordIsRead() {
    String topic = "progress_done_" + System.nanoTime();
    TopicPartition p0 = new TopicPartition(topic, 0);
    ReadProgress.Interceptor interceptor = new ReadProgress.Interceptor();
    List<ConsumerRecord<byte[], byte[]>> polled = new java.util.ArrayList<>();
    for (long offset = 0; offset < 999; offset++) {
      polled.add(record(topic, 0, offset));
    }
    interceptor.onConsume(new ConsumerRecords<>(Map.of(p0, polled)));
    Map<Integer, Long> planned = new TreeMap<>(Map.of(0, 1_000L));
    // 99.9% read: rounded it would say 100%, and the reporter would announce the end one record early.
    assertThat(ReadProgress.Reporter.line(topic, planned, 1.0),
        equalTo("progress: read 999 of 1,000 records (99%): partition 0 999/1,000; 999 records/s, 1.0 s"));
    assertThat(ReadProgress.Reporter.done(topic, planned), equalTo(false));
    interceptor.onConsume(new ConsumerRecords<>(Map.of(p0, List.of(record(topic, 0, 999)))));
    assertThat(ReadProgress.Reporter.line(topic, planned, 1.0),
        equalTo("progress: read 1,000 of 1,000 records (100%): partition 0 1,000/1,000; 1,000 records/s, 1.0 s"));
    assertThat(ReadProgress.Reporter.done(topic, planned), equalTo(true));
  }

  @Test
  void theInterceptorJoinsTheClientFilesOwnInterceptors() {
    Map<String, Object> config = new java.util.HashMap<>(Map.of("interceptor.classes", "com.example.Audit"));
    ReadProgress.install(config);
    assertThat(config.get("interceptor.classes"),
        equalTo("com.example.Audit," + ReadProgress.Interceptor.class.getName()));
    Map<String, Object> none = new java.util.HashMap<>();
    ReadProgress.install(none);
    assertThat(none.get("interceptor.classes"), equalTo(ReadProgress.Interceptor.class.getName()));
  }
}
