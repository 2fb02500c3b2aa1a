package dev.clickstream.pipeline;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.io.kafka.KafkaRecord;
import org.apache.beam.sdk.io.kafka.KafkaRecordCoder;
import org.apache.beam.sdk.io.kafka.KafkaTimestampType;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.junit.Rule;
import org.junit.Test;

/**
 * The hostile-input corpus (src/test/resources/hostile, one file per record, reasons in cases.tsv) between good
 * clicks, through ParseClicks: every hostile record is dead-lettered once, with its reason and its exact bytes, and
 * every good click is counted; nothing throws.
 */
public class HostileInputTest {
  /** The Kafka timestamp every record gets: the corpus's event times lie half a second before it. */
  public static final long ARRIVAL = 1_795_687_200_000L;

  @Rule public final transient TestPipeline p = TestPipeline.create();

  /** A corpus entry: its file name, the reason it must be rejected with, its bytes. */
  public record Case(String file, String reason, byte[] value) implements java.io.Serializable {}

  public static List<Case> corpus() throws IOException {
    List<Case> cases = new ArrayList<>();
    try (InputStream manifest = HostileInputTest.class.getResourceAsStream("/hostile/cases.tsv")) {
      for (String line : new String(manifest.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        if (line.isBlank() || line.startsWith("#")) {
          continue;
        }
        String[] fields = line.split("\t");
        try (InputStream in = HostileInputTest.class.getResourceAsStream("/hostile/" + fields[0])) {
          cases.add(new Case(fields[0], fields[1], in.readAllBytes()));
        }
      }
    }
    return cases;
  }

  @Test
  public void everyHostileRecordIsDeadLetteredWithItsReasonAndTheGoodOnesCount() throws IOException {
    List<Case> corpus = corpus();
    assertThat(corpus.size(), greaterThanOrEqualTo(25));
    List<KafkaRecord<byte[], byte[]>> records = new ArrayList<>();
    long offset = 0;
    for (Case c : corpus) {
      byte[] good = ("{\"product_id\":7,\"timestamp\":" + (ARRIVAL - 1000) + "}").getBytes(StandardCharsets.UTF_8);
      records.add(new KafkaRecord<>("clicks", 0, offset++, ARRIVAL, KafkaTimestampType.CREATE_TIME, null, null, good));
      records.add(new KafkaRecord<>("clicks", 0, offset++, ARRIVAL, KafkaTimestampType.CREATE_TIME, null, null,
          c.value()));
    }
    PCollectionTuple parsed = p
        .apply(Create.of(records).withCoder(KafkaRecordCoder.of(NullableCoder.of(ByteArrayCoder.of()),
            NullableCoder.of(ByteArrayCoder.of()))))
        .apply(new ParseClicks(60_000, 60_000, null));

    PAssert.that(parsed.get(ParseClicks.CLICKS)).satisfies(clicks -> {
      long n = 0;
      for (Click click : clicks) {
        assertThat(click.productId(), equalTo(7L));
        n++;
      }
      assertThat("good clicks counted", n, equalTo((long) corpus.size()));
      return null;
    });
    PAssert.that(parsed.get(ParseClicks.DEAD_LETTERS)).satisfies(deadLetters -> {
      Map<String, String> expected = new TreeMap<>();
      corpus.forEach(c -> expected.put(c.file(), c.reason()));
      Map<String, String> actual = new TreeMap<>();
      for (DeadLetter d : deadLetters) {
        String file = corpus.stream().filter(c -> Arrays.equals(c.value(), d.value())).map(Case::file)
            .findFirst().orElse("a record not in the corpus");
        assertThat(file + " dead-lettered once", actual.put(file, d.reason()), equalTo(null));
        assertThat(file + " has a detail", d.detail().isEmpty(), equalTo(false));
      }
      assertThat(actual, equalTo(expected));
      return null;
    });
    p.run().waitUntilFinish();
  }
}
