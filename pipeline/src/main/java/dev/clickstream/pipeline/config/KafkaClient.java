package dev.clickstream.pipeline.config;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * How every Kafka client of the pipeline connects: the brokers, plus the client settings of a Kafka properties file
 * ({@code --kafkaProperties}, what Kafka's own tools take with {@code --command-config}): TLS, SASL, and any other
 * client setting. Every consumer, producer and admin client the pipeline makes starts from {@link #base()}.
 *
 * <p>The file holds the secrets (a JAAS password, a keystore password), so they are never an option, never on a
 * command line and never in a log: {@link #toString} names the file only, and Kafka's clients print password
 * settings as {@code [hidden]}. The settings travel inside the pipeline's transforms, like KafkaIO's consumer
 * config does, so workers need no copy of the file.
 */
public record KafkaClient(String bootstrapServers, Map<String, String> settings, @Nullable String file)
    implements java.io.Serializable {

  /** Settings the pipeline decides itself: a file that sets them is refused, so that nothing is overridden quietly. */
  private static final java.util.Set<String> OWN = java.util.Set.of(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG,
      ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
      "key.serializer", "value.serializer", ConsumerConfig.GROUP_ID_CONFIG, ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
      "transactional.id");

  public KafkaClient {
    settings = Map.copyOf(settings);
  }

  public static KafkaClient plain(String bootstrapServers) {
    return new KafkaClient(bootstrapServers, Map.of(), null);
  }

  /** Reads a Kafka properties file; a missing or unreadable file, or one that sets the pipeline's own keys, fails. */
  public static KafkaClient withFile(String bootstrapServers, @Nullable String file) {
    if (file == null || file.isEmpty()) {
      return plain(bootstrapServers);
    }
    Properties p = new Properties();
    try (Reader in = Files.newBufferedReader(Path.of(file), StandardCharsets.UTF_8)) {
      p.load(in);
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException("--kafkaProperties: cannot read the Kafka properties file " + file + ": " + e);
    }
    Map<String, String> settings = new TreeMap<>();
    for (String key : p.stringPropertyNames()) {
      if (OWN.contains(key)) {
        throw new IllegalArgumentException("--kafkaProperties: " + file + " sets " + key + ", which the pipeline sets"
            + " itself" + (key.equals(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG) ? " (use --bootstrapServers)" : ""));
      }
      settings.put(key, p.getProperty(key));
    }
    return new KafkaClient(bootstrapServers, settings, file);
  }

  /** The file's settings and the brokers: the start of every client's configuration. */
  Properties base() {
    Properties p = new Properties();
    p.putAll(settings);
    p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    return p;
  }

  /** A consumer of raw bytes that never commits by itself: the base of every consumer the pipeline makes. */
  public Properties byteConsumer() {
    Properties p = base();
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    return p;
  }

  public Properties admin() {
    Properties p = base();
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    return p;
  }

  /** The file's settings for KafkaIO's producers (KafkaIO sets the brokers and serializers itself). */
  public Map<String, Object> producerSettings() {
    return Map.copyOf(settings);
  }

  @Override
  public String toString() {
    return bootstrapServers + (file == null ? "" : " with the client settings of " + file);
  }
}
