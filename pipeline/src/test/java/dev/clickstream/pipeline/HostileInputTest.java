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
import org.junit.Test;

/**
 * The hostile-input corpus (src/test/resources/hostile, one file per record, reasons in cases.tsv) between good
 * clicks, judged by the readers' batch builder: every hostile record is dead-lettered once, with its reason and its
 * exact bytes, and every good click is counted; nothing throws. HostileInputIT sends the same corpus through Kafka.
 */
public class HostileInputTest {
  /** The Kafka timestamp every record gets: the corpus's event times lie half a second before it. */
  public static final long ARRIVAL = 1_795_687_200_000L;

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
    ClickBatch.Builder builder = new ClickBatch.Builder(new ClickRules(60_000, 60_000, null));
    long offset = 0;
    for (Case c : corpus) {
      byte[] good = ("{\"product_id\":7,\"timestamp\":" + (ARRIVAL - 1000) + "}").getBytes(StandardCharsets.UTF_8);
      builder.add(null, good, "clicks", 0, offset++, ARRIVAL);
      builder.add(null, c.value(), "clicks", 0, offset++, ARRIVAL);
    }
    ClickBatch batch = builder.build();

    assertThat("one cell: product 7 in one window", batch.cells(), equalTo(1));
    assertThat(batch.products()[0], equalTo(7L));
    assertThat("good clicks counted", batch.clicks()[0], equalTo((long) corpus.size()));
    assertThat(batch.counted(), equalTo((long) corpus.size()));
    assertThat("every hostile record rejected", batch.malformed() + batch.tooLate(), equalTo((long) corpus.size()));
    Map<String, String> expected = new TreeMap<>();
    corpus.forEach(c -> expected.put(c.file(), c.reason()));
    Map<String, String> actual = new TreeMap<>();
    for (DeadLetter d : batch.deadLetters()) {
      String file = corpus.stream().filter(c -> Arrays.equals(c.value(), d.value())).map(Case::file)
          .findFirst().orElse("a record not in the corpus");
      assertThat(file + " dead-lettered once", actual.put(file, d.reason()), equalTo(null));
      assertThat(file + " has a detail", d.detail().isEmpty(), equalTo(false));
    }
    assertThat(actual, equalTo(expected));
  }
}
