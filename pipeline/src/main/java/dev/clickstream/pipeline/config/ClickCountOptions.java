package dev.clickstream.pipeline.config;

import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;

/**
 * The pipeline's options. The names are a contract: the Airflow DAG and the README use them. Durations are
 * ISO-8601 ({@code PT60S}); instants are ISO-8601 ({@code 2026-11-26T10:00:00Z}).
 */
public interface ClickCountOptions extends PipelineOptions {

  String BOOTSTRAP_SERVERS = "127.0.0.1:9092";
  String INPUT_TOPIC = "clicks";
  String OUTPUT_TOPIC = "aggregation_clicks";
  String DEAD_LETTER_TOPIC = "clicks_dlq";
  String CONSUMER_GROUP = "click-count-pipeline";
  String CLICKHOUSE_URL = "jdbc:clickhouse://127.0.0.1:8123/analytics"
      + "?server_version=22.8.1&server_time_zone=UTC&custom_http_params=database%3Danalytics";
  String CLICKHOUSE_TABLE = "analytics.product_clicks";
  String WINDOW_SIZE = "PT60S";
  String ALLOWED_LATENESS = "PT60S";
  String MAX_OUT_OF_ORDERNESS = "PT5S";
  String LATE_FIRING_DELAY = "PT5S";
  int HOT_KEY_FANOUT = 16;
  String MAX_SETTLE = "PT60M";
  String DELIVERY_MARGIN = "PT10S";

  @Description("Kafka bootstrap servers, host:port[,host:port...]")
  @Default.String(BOOTSTRAP_SERVERS)
  String getBootstrapServers();

  void setBootstrapServers(String value);

  @Description("A Kafka client properties file (what Kafka's tools take with --command-config): TLS, SASL and other"
      + " client settings for every consumer, producer and admin client of the pipeline. Secrets stay in the file")
  String getKafkaProperties();

  void setKafkaProperties(String value);

  @Description("Topic the click events are read from")
  @Default.String(INPUT_TOPIC)
  String getInputTopic();

  void setInputTopic(String value);

  @Description("Topic the per-product window counts are written to (key: product id)")
  @Default.String(OUTPUT_TOPIC)
  String getOutputTopic();

  void setOutputTopic(String value);

  @Description("Topic rejected records go to: the original bytes, the reason in headers")
  @Default.String(DEAD_LETTER_TOPIC)
  String getDeadLetterTopic();

  void setDeadLetterTopic(String value);

  @Description("Kafka consumer group; continuous runs commit their offsets there")
  @Default.String(CONSUMER_GROUP)
  String getConsumerGroup();

  void setConsumerGroup(String value);

  @Description("ClickHouse JDBC URL. Debian's 18.16 needs the server_version/custom_http_params recipe of the"
      + " default; a current ClickHouse takes a plain jdbc:clickhouse://host:8123/analytics")
  @Default.String(CLICKHOUSE_URL)
  String getClickHouseUrl();

  void setClickHouseUrl(String value);

  @Description("ClickHouse table, database.table")
  @Default.String(CLICKHOUSE_TABLE)
  String getClickHouseTable();

  void setClickHouseTable(String value);

  @Description("ClickHouse user (default: the URL's, else the server's default user)")
  String getClickHouseUser();

  void setClickHouseUser(String value);

  @Description("Name of the environment variable that holds the ClickHouse password. The password itself is never an"
      + " option, so it stays out of the options dump, the logs and the process list")
  String getClickHousePasswordEnv();

  void setClickHousePasswordEnv(String value);

  @Description("Event-time window size")
  @Default.String(WINDOW_SIZE)
  String getWindowSize();

  void setWindowSize(String value);

  @Description("How long after its window's end a click still counts (judged by its Kafka timestamp)")
  @Default.String(ALLOWED_LATENESS)
  String getAllowedLateness();

  void setAllowedLateness(String value);

  @Description("How far the watermark trails the newest event time seen on each partition (continuous mode)")
  @Default.String(MAX_OUT_OF_ORDERNESS)
  String getMaxOutOfOrderness();

  void setMaxOutOfOrderness(String value);

  @Description("Continuous mode: late clicks gather until the wall clock's next multiple of this, when the updated"
      + " counts of every product they changed are written together (one row and one aggregate per product); PT0S"
      + " writes one per read")
  @Default.String(LATE_FIRING_DELAY)
  String getLateFiringDelay();

  void setLateFiringDelay(String value);

  @Description("Continuous mode: how often the input topic's partitions are counted. KafkaIO's reader keeps the"
      + " partitions it started with, also in its checkpoints: when the topic has more, the job is stopped and a fresh"
      + " one started, which reads them all and counts again the windows that were open. PT0S: never checked")
  @Default.String("PT30S")
  String getPartitionCheckInterval();

  void setPartitionCheckInterval(String value);

  @Description("Continuous mode: each product's clicks are first counted in up to this many shards, on different"
      + " workers, then the shards' counts are added up per product (Count.perKey's hot-key fan-out), so that a product"
      + " with most of the clicks does not load one worker alone; 1 turns it off")
  @Default.Integer(HOT_KEY_FANOUT)
  Integer getHotKeyFanout();

  void setHotKeyFanout(Integer value);

  @Description("Bounded mode: first event time to count (inclusive); give --to too")
  String getFrom();

  void setFrom(String value);

  @Description("Bounded mode: end of the event-time interval (exclusive)")
  String getTo();

  void setTo(String value);

  @Description("Bounded mode: also count the windows of [to, earlyTo) early, with the clicks already in the topic (a"
      + " later run whose [from, to) holds them counts them in full and dead-letters their rejections). The DAG"
      + " uses it to show a minute's count at once and settle it once its late clicks are in")
  String getEarlyTo();

  void setEarlyTo(String value);

  @Description("Bounded, for an orchestrator that runs it every interval: settle every window from the table's settled"
      + " mark (kept in <table>_settled) up to --to, at most --maxSettle of them per run, and count the windows up to"
      + " --earlyTo early. --from is where the first run starts when the table has no mark yet. A window is settled"
      + " once: its count is final, its rejections are dead-lettered exactly once, and a click that reaches the topic"
      + " after it was settled is dead-lettered as window_closed")
  @Default.Boolean(false)
  Boolean getSettle();

  void setSettle(Boolean value);

  @Description("--settle: the most event time one run settles; a larger backlog is settled in chunks by the next runs")
  @Default.String(MAX_SETTLE)
  String getMaxSettle();

  void setMaxSettle(String value);

  @Description("--settle: how long after a click's Kafka timestamp it may still be on its way into the topic (a"
      + " producer's linger and retries); a window is settled only once its end + allowedLateness +"
      + " maxOutOfOrderness + this has passed")
  @Default.String(DELIVERY_MARGIN)
  String getDeliveryMargin();

  void setDeliveryMargin(String value);

  @Description("Stop the run (cancel its job) when the process that started this one ends: an orchestrator's task"
      + " that dies leaves no run behind to race its retry")
  @Default.Boolean(false)
  Boolean getExitWithParent();

  void setExitWithParent(Boolean value);

  @Description("Removed: refused at start, saying what replaced it (the aggregates are idempotent, keyed by product and"
      + " window; docs/semantics.md)")
  @Default.Boolean(false)
  Boolean getKafkaExactlyOnce();

  void setKafkaExactlyOnce(Boolean value);

  @Description("Create the Kafka topics and the ClickHouse database and table if they are missing")
  @Default.Boolean(true)
  Boolean getCreateSchema();

  void setCreateSchema(Boolean value);

  @Description("FlinkRunner, continuous run: on SIGTERM stop the job with a savepoint in this directory (a file:// or"
      + " other Flink file system path); the launcher prints the savepoint's path, and --savepointPath=<that path>"
      + " resumes the job from it. Default on a session cluster: 'cluster', its own state.savepoints.dir; 'none'"
      + " cancels the job instead, as [local] does by default")
  String getSavepointOnStop();

  void setSavepointOnStop(String value);
}
