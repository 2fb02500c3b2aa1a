package dev.clickstream.pipeline.model;

import dev.clickstream.pipeline.transforms.JudgeClicks;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.Test;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;


/**
 * The hostile-input corpus (src/test/resources/hostile, one file per record, reasons in cases.tsv) between good
 * clicks, judged as {@link JudgeClicks} judges each record read: every hostile record is rejected with its reason and a
 * detail, and every good click is counted; nothing throws. HostileInputIT sends the same corpus through Kafka and the
 * whole pipeline, and checks each dead letter's exact bytes.
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
    ClickRules rules = new ClickRules(60_000, 60_000, null);
    long counted = 0;
    List<String> rejected = new java.util.ArrayList<>();
    Map<String, String> actual = new TreeMap<>();
    for (Case c : corpus) {
      byte[] good = ("{\"product_id\":7,\"timestamp\":" + (ARRIVAL - 1000) + "}").getBytes(StandardCharsets.UTF_8);
      ClickRules.Verdict ok = rules.judge(good, ARRIVAL);
      if (ok.kind() == ClickRules.Kind.COUNT && ok.click().productId() == 7) {
        counted++;
      }
      ClickRules.Verdict verdict = rules.judge(c.value(), ARRIVAL);
      if (verdict.kind() == ClickRules.Kind.MALFORMED || verdict.kind() == ClickRules.Kind.TOO_LATE) {
        rejected.add(c.file());
        assertThat(c.file() + " has a detail", verdict.detail().isEmpty(), equalTo(false));
        actual.put(c.file(), verdict.reason());
      }
    }
    assertThat("good clicks counted", counted, equalTo((long) corpus.size()));
    assertThat("every hostile record rejected", rejected.size(), equalTo(corpus.size()));
    Map<String, String> expected = new TreeMap<>();
    corpus.forEach(c -> expected.put(c.file(), c.reason()));
    assertThat(actual, equalTo(expected));
  }
}
