package dev.clickstream.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.time.Time;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The benchmark's baseline: the click count written directly against Flink 1.19's DataStream API, in the
 * shape of Flink's own click-event-count playground job. It reads the records of the clicks topic whose Kafka
 * timestamps lie in [from, to) (KafkaSource, bounded by offsets-for-times, as the Beam pipeline's bounded run does),
 * parses each value with Jackson, drops what is not a click, counts per product in tumbling event-time windows with
 * the allowed lateness, and writes one JSON count per (product, window) to a Kafka topic. No ClickHouse, no dead
 * letters, no arrival rule: the least work that gives the same counts on well-formed input.
 *
 * <p>Usage: {@code java -Xmx1g -jar click-count-native-flink.jar --bootstrap 127.0.0.1:9092 --topic clicks --output
 * native_counts --from <ms> --to <ms> --window-seconds 60 --lateness-seconds 60 --parallelism 2 [--master
 * host:port]}. Without {@code --master} the job runs on an embedded Flink cluster (as the Beam pipeline's {@code
 * [local]}); with it, on that session cluster. Prints one line: records read, counts written, seconds.
 */
public final class NativeClickCount {
  private NativeClickCount() {}

  /** A parsed click: product and event time; product -1 when the record was not a click. */
  public record Click(long productId, long eventTimeMillis) {}

  public static void main(String[] args) throws Exception {
    Map<String, String> a = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      a.put(args[i].replaceFirst("^--", ""), args[i + 1]);
    }
    String bootstrap = a.getOrDefault("bootstrap", "127.0.0.1:9092");
    String topic = a.get("topic");
    String output = a.getOrDefault("output", topic + "_native_counts");
    long from = Long.parseLong(a.get("from"));
    long to = Long.parseLong(a.get("to"));
    long windowSeconds = Long.parseLong(a.getOrDefault("window-seconds", "60"));
    long latenessSeconds = Long.parseLong(a.getOrDefault("lateness-seconds", "60"));
    int parallelism = Integer.parseInt(a.getOrDefault("parallelism", "2"));
    String master = a.get("master");

    StreamExecutionEnvironment env;
    if (master == null) {
      env = StreamExecutionEnvironment.getExecutionEnvironment();
    } else {
      String jar = NativeClickCount.class.getProtectionDomain().getCodeSource().getLocation().getPath();
      env = StreamExecutionEnvironment.createRemoteEnvironment(master.split(":")[0],
          Integer.parseInt(master.split(":")[1]), jar);
    }
    env.setParallelism(parallelism);
    env.setRuntimeMode(RuntimeExecutionMode.BATCH);
    env.getConfig().enableObjectReuse();

    KafkaSource<Click> source = KafkaSource.<Click>builder()
        .setBootstrapServers(bootstrap)
        .setTopics(topic)
        .setGroupId("native-click-count")
        .setStartingOffsets(OffsetsInitializer.timestamp(from))
        .setBounded(OffsetsInitializer.timestamp(to))
        .setDeserializer(new ParseClick())
        .setProperty("max.poll.records", "10000")
        .build();
    DataStream<Click> clicks = env.fromSource(source,
        WatermarkStrategy.<Click>forBoundedOutOfOrderness(Duration.ofSeconds(5))
            .withTimestampAssigner((click, kafkaTimestamp) -> click.eventTimeMillis()), "clicks");

    DataStream<String> counts = clicks
        .filter(click -> click.productId() >= 0)
        .keyBy(Click::productId)
        .window(TumblingEventTimeWindows.of(Time.seconds(windowSeconds)))
        .allowedLateness(Time.seconds(latenessSeconds))
        .aggregate(new CountClicks(), new ToJson());

    counts.sinkTo(KafkaSink.<String>builder()
        .setBootstrapServers(bootstrap)
        .setRecordSerializer(KafkaRecordSerializationSchema.builder()
            .setTopic(output)
            .setValueSerializationSchema(new SimpleStringSchema())
            .build())
        .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .build());

    long start = System.nanoTime();
    var result = env.execute("native-click-count");
    double seconds = (System.nanoTime() - start) / 1e9;
    System.out.printf("native flink: job %s done in %.1f s (from execute to the end of the job)%n",
        result.getJobID(), seconds);
  }

  /** Kafka value bytes to a click, with Jackson; a record that is not one becomes product -1. */
  static final class ParseClick implements KafkaRecordDeserializationSchema<Click> {
    private transient ObjectMapper json;

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Click> out) {
      if (json == null) {
        json = new ObjectMapper();
      }
      try {
        JsonNode node = json.readTree(record.value());
        JsonNode product = node.get("product_id");
        JsonNode timestamp = node.get("timestamp");
        if (product != null && product.canConvertToLong() && timestamp != null && timestamp.canConvertToLong()) {
          out.collect(new Click(product.asLong(), timestamp.asLong()));
          return;
        }
      } catch (Exception notJson) {
        // counted as not a click below
      }
      out.collect(new Click(-1, record.timestamp()));
    }

    @Override
    public TypeInformation<Click> getProducedType() {
      return TypeInformation.of(Click.class);
    }
  }

  static final class CountClicks implements AggregateFunction<Click, Long, Long> {
    @Override
    public Long createAccumulator() {
      return 0L;
    }

    @Override
    public Long add(Click click, Long count) {
      return count + 1;
    }

    @Override
    public Long getResult(Long count) {
      return count;
    }

    @Override
    public Long merge(Long a, Long b) {
      return a + b;
    }
  }

  static final class ToJson extends ProcessWindowFunction<Long, String, Long, TimeWindow> {
    @Override
    public void process(Long productId, Context context, Iterable<Long> counts, Collector<String> out) {
      long count = counts.iterator().next();
      out.collect("{\"product_id\":" + productId + ",\"window_start\":" + context.window().getStart()
          + ",\"window_end\":" + context.window().getEnd() + ",\"count\":" + count + "}");
    }
  }
}
