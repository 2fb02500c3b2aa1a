package dev.clickstream.pipeline.io;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.beam.runners.direct.DirectRunner;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.io.kafka.KafkaIO;
import org.apache.beam.sdk.io.kafka.ProducerRecordCoder;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.Test;

/**
 * KafkaIO's exactly-once sink after a failed commit, run twice in one JVM the way Flink restarts a job on the same
 * TaskManager: the sink's shard writers live in a JVM-wide cache that outlives the failed run. With Beam's sink alone
 * the retry takes the failed writer back and fails again; with {@link ExactlyOnceProducer} the failed producer is
 * dropped, closed, and the retry commits with a new one. Brokerless: Kafka's mock producer and consumer.
 */
public class ExactlyOnceProducerTest {
  /** The mock producers each sink group got, in order; the first fails its first commit. */
  private static final Map<String, List<MockProducer<byte[], byte[]>>> MADE = new ConcurrentHashMap<>();

  private static Producer<byte[], byte[]> mockProducer(String group) {
    MockProducer<byte[], byte[]> producer =
        new MockProducer<>(true, new ByteArraySerializer(), new ByteArraySerializer());
    List<MockProducer<byte[], byte[]>> made = MADE.computeIfAbsent(group, g -> new CopyOnWriteArrayList<>());
    if (made.isEmpty()) {
      producer.commitTransactionException = new TimeoutException("the broker went away during the commit");
    }
    made.add(producer);
    return producer;
  }

  @Test
  public void aRetryAfterAFailedCommitWritesWithANewProducer() throws Exception {
    String group = "eos-recovers-" + System.nanoTime();
    SerializableFunction<Map<String, Object>, Producer<byte[], byte[]>> producers =
        ExactlyOnceProducer.factory(config -> mockProducer(group));

    Throwable failed = runOnce(group, producers);
    assertNotNull("the first run's commit fails", failed);
    assertTrue(failed.toString(), causes(failed).contains("the broker went away during the commit"));
    MockProducer<byte[], byte[]> first = MADE.get(group).get(0);
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!first.closed() && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertTrue("the failed producer is closed", first.closed());
    Map<Integer, Object> writers = ExactlyOnceProducer.SinkWriterCache.writers(group);
    assertNotNull("the sink cached its writer under the group (Beam's cache is where this reads it)", writers);
    assertFalse("and its writer is out of the sink's cache", writers.containsKey(0));

    Throwable retried = runOnce(group, producers);
    assertEquals("the retry writes", null, retried);
    List<MockProducer<byte[], byte[]>> made = MADE.get(group);
    assertEquals("with a second producer", 2, made.size());
    assertTrue(made.get(1).transactionCommitted());
    assertEquals(3, made.get(1).history().size());
    assertEquals("nothing from the failed transaction", 0, first.history().size());
  }

  /** Why the class exists: without it the retry reuses the failed producer, and so does every retry after it. */
  @Test
  public void beamsSinkAloneRetriesWithTheFailedProducer() throws Exception {
    String group = "eos-stuck-" + System.nanoTime();
    SerializableFunction<Map<String, Object>, Producer<byte[], byte[]>> producers = config -> mockProducer(group);

    assertNotNull(runOnce(group, producers));
    Throwable retried = runOnce(group, producers);
    assertNotNull("the retry fails too", retried);
    assertEquals("no new producer was made", 1, MADE.get(group).size());
    assertTrue(causes(retried), causes(retried).contains("Transaction already started"));
  }

  private static Throwable runOnce(String group,
      SerializableFunction<Map<String, Object>, Producer<byte[], byte[]>> producers) {
    PipelineOptions options = PipelineOptionsFactory.create();
    options.setRunner(DirectRunner.class);
    Pipeline p = Pipeline.create(options);
    p.apply(Create.of(record("a"), record("b"), record("c")).withCoder(
            ProducerRecordCoder.of(NullableCoder.of(ByteArrayCoder.of()), NullableCoder.of(ByteArrayCoder.of()))))
        .apply(KafkaIO.<byte[], byte[]>writeRecords()
            .withBootstrapServers("mock:9092")
            .withTopic("aggregates")
            .withKeySerializer(ByteArraySerializer.class)
            .withValueSerializer(ByteArraySerializer.class)
            .withEOS(1, group)
            .withProducerFactoryFn(producers)
            .withConsumerFactoryFn(config -> new MockConsumer<>(OffsetResetStrategy.EARLIEST)));
    try {
      p.run().waitUntilFinish();
      return null;
    } catch (RuntimeException e) {
      return e;
    }
  }

  private static ProducerRecord<byte[], byte[]> record(String value) {
    return new ProducerRecord<>("aggregates", null, value.getBytes(StandardCharsets.UTF_8));
  }

  private static String causes(Throwable t) {
    StringBuilder all = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      all.append(c).append('\n');
    }
    return all.toString();
  }

  @Test
  public void aFailedProducerRefusesEveryCallButAbortAndClose() {
    MockProducer<byte[], byte[]> mock = new MockProducer<>(true, new ByteArraySerializer(), new ByteArraySerializer());
    ExactlyOnceProducer producer = new ExactlyOnceProducer("not-a-sink-id", mock);
    producer.initTransactions();
    producer.beginTransaction();
    mock.commitTransactionException = new TimeoutException("commit timed out");
    try {
      producer.commitTransaction();
      fail("the commit fails");
    } catch (TimeoutException expected) {
      assertTrue(producer.failed());
    }
    producer.abortTransaction();
    assertFalse("abort is left to the next producer's initTransactions", mock.transactionAborted());
    try {
      producer.beginTransaction();
      fail("a failed producer refuses to begin again");
    } catch (IllegalStateException expected) {
      assertTrue(expected.getMessage(), expected.getMessage().contains("commit timed out"));
    }
    producer.close();
    assertTrue(mock.closed());
  }
}
