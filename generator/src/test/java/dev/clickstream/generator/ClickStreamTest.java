package dev.clickstream.generator;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.allOf;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.hamcrest.Matchers.lessThan;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class ClickStreamTest {

  private static final String[] BASE = {
      "--start", "2026-01-01T00:00:00Z", "--rate", "2000", "--duration", "PT3M", "--products", "50",
      "--late-fraction", "0.1", "--late-delay", "PT90S", "--malformed-fraction", "0.05",
      "--window-size", "PT60S", "--allowed-lateness", "PT60S"};

  private static final Pattern CLICK =
      Pattern.compile("\\{\"product_id\":(\\d+),\"user_id\":(\\d+),\"timestamp\":(\\d+)}");

  private static List<ClickStream.Record> records(String... extra) {
    String[] args = new String[BASE.length + extra.length];
    System.arraycopy(BASE, 0, args, 0, BASE.length);
    System.arraycopy(extra, 0, args, BASE.length, extra.length);
    List<ClickStream.Record> out = new ArrayList<>();
    new ClickStream(GeneratorConfig.parse(args)).forEachRemaining(out::add);
    return out;
  }

  @Test
  void sameSeedGivesTheSameBytesAndAnotherSeedDoesNot() {
    List<ClickStream.Record> a = records("--seed", "7");
    List<ClickStream.Record> b = records("--seed", "7");
    List<ClickStream.Record> c = records("--seed", "8");
    assertThat(a.size(), equalTo(360_000));
    for (int i = 0; i < a.size(); i++) {
      assertArrayEquals(a.get(i).value(), b.get(i).value());
      assertThat(a.get(i).arrivalMillis(), equalTo(b.get(i).arrivalMillis()));
    }
    long differing = 0;
    for (int i = 0; i < a.size(); i++) {
      if (!java.util.Arrays.equals(a.get(i).value(), c.get(i).value())) {
        differing++;
      }
    }
    assertThat(differing, greaterThan(a.size() / 2L));
  }

  /**
   * The stream of a fixed config is the same from one version of the generator to the next, byte for byte and in the
   * same order (by arrival, then by generation): an oracle file or a re-run of an interval made with an earlier build
   * stays valid. The digests were taken from the generator before its pending records moved to a ring of buckets.
   */
  @Test
  void theStreamOfAFixedConfigDoesNotChangeBetweenVersions() throws Exception {
    assertThat(digest("--seed", "11"), equalTo("15eef83df1e5a33b1b5ae17e19b808f691ebd0b646bddacb6fe9418e25078bb7"));
    assertThat(digest("--seed", "11", "--arrival-jitter", "PT0.5S", "--popularity", "zipf:1.1",
            "--burst-rate", "6000", "--burst-length", "PT10S", "--burst-every", "PT1M"),
        equalTo("9870b46fa7ee531daa222a6f06407f0dba8a65752b9b24966096031c4479bb66"));
  }

  @Test
  void aDelayTooLongForTheRingOfBucketsGivesTheSameStream() {
    GeneratorConfig config = GeneratorConfig.parse(
        "--start", "2026-01-01T00:00:00Z", "--rate", "2000", "--duration", "PT3M", "--late-fraction", "0.1",
        "--late-delay", "PT90S", "--malformed-fraction", "0.05", "--seed", "5");
    ClickStream ring = new ClickStream(config);
    ClickStream map = new ClickStream(config, 1);
    long n = 0;
    while (ring.hasNext()) {
      ClickStream.Record a = ring.next();
      ClickStream.Record b = map.next();
      assertThat(b.arrivalMillis(), equalTo(a.arrivalMillis()));
      assertArrayEquals(a.value(), b.value());
      n++;
    }
    assertThat(map.hasNext(), equalTo(false));
    assertThat(n, equalTo(360_000L));
  }

  private static String digest(String... extra) throws Exception {
    java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
    java.nio.ByteBuffer header = java.nio.ByteBuffer.allocate(24);
    for (ClickStream.Record r : records(extra)) {
      header.clear();
      header.putLong(r.arrivalMillis()).putInt(r.kind().ordinal()).putInt(r.key().length).putLong(r.productId());
      sha.update(header.array());
      sha.update(r.key());
      sha.update(r.value());
    }
    return java.util.HexFormat.of().formatHex(sha.digest());
  }

  @Test
  void recordsComeInArrivalOrderAndKafkaTimestampsNeverGoBack() {
    long previous = Long.MIN_VALUE;
    for (ClickStream.Record r : records()) {
      assertThat(r.arrivalMillis(), greaterThanOrEqualTo(previous));
      assertThat(r.arrivalMillis(), greaterThanOrEqualTo(r.eventTimeMillis()));
      previous = r.arrivalMillis();
    }
  }

  // The oracle, recomputed here from nothing but the bytes and Kafka timestamps the generator would send.
  @Test
  void oracleAgreesWithTheRecordsWritten() {
    GeneratorConfig config = GeneratorConfig.parse(BASE);
    Oracle oracle = Oracle.forConfig(config);
    Map<Oracle.WindowKey, Long> recount = new HashMap<>();
    long unparseable = 0;
    long dropped = 0;
    for (ClickStream it = new ClickStream(config); it.hasNext(); ) {
      ClickStream.Record r = it.next();
      oracle.add(r);
      Matcher m = CLICK.matcher(new String(r.value(), StandardCharsets.UTF_8));
      long ts = m.matches() ? Long.parseLong(m.group(3)) : -1;
      if (!m.matches() || ts < 946_684_800_000L || Long.parseLong(m.group(1)) > 4_294_967_295L) {
        unparseable++;
        continue;
      }
      long windowStart = ts - ts % 60_000;
      if (r.arrivalMillis() > windowStart + 60_000 + 60_000) {
        dropped++;
        continue;
      }
      recount.merge(new Oracle.WindowKey(Long.parseLong(m.group(1)), windowStart), 1L, Long::sum);
    }
    assertThat(oracle.counts(), equalTo(recount));
    assertThat(oracle.malformed(), equalTo(unparseable));
    assertThat(oracle.tooLate(), equalTo(dropped));
    assertThat(oracle.counted() + oracle.tooLate() + oracle.malformed(), equalTo(oracle.records()));
    // 90 s late against 60 s of lateness: roughly the clicks of each window's first half still count.
    assertThat((double) oracle.tooLate() / oracle.late(), closeTo(0.5, 0.05));
    assertThat(oracle.counts().keySet().stream().map(Oracle.WindowKey::windowStart).distinct().count(), equalTo(3L));
  }

  @Test
  void fractionsAreHonoured() {
    List<ClickStream.Record> all = records();
    long late = all.stream().filter(r -> r.kind() == ClickStream.Kind.LATE).count();
    long malformed = all.stream().filter(r -> r.kind() == ClickStream.Kind.MALFORMED).count();
    assertThat((double) late / all.size(), closeTo(0.10, 0.005));
    assertThat((double) malformed / all.size(), closeTo(0.05, 0.005));
  }

  @Test
  void zipfPopularityFavoursTheFirstProducts() {
    Map<Long, Long> perProduct = new HashMap<>();
    for (ClickStream.Record r : records("--popularity", "zipf:1.2")) {
      perProduct.merge(r.productId(), 1L, Long::sum);
    }
    assertThat(perProduct.get(1L), greaterThan(perProduct.get(2L)));
    assertThat(perProduct.get(2L), greaterThan(perProduct.get(10L)));
    assertThat(perProduct.get(10L), greaterThan(perProduct.getOrDefault(50L, 0L)));
    assertThat(perProduct.keySet().stream().allMatch(p -> p >= 1 && p <= 50), equalTo(true));
  }

  // A producer whose clock is three minutes behind: "now" is its clock, and its clicks are stamped with it.
  @Test
  void aClockOffsetMovesNowAndTheStamps() {
    long before = System.currentTimeMillis();
    GeneratorConfig config = GeneratorConfig.parse("--clock-offset", "-PT3M", "--count", "10");
    assertThat((double) config.start().toEpochMilli(), closeTo(before - 180_000, 2_000));
    assertThat(config.clockOffset(), equalTo(java.time.Duration.ofMinutes(-3)));
    ClickStream.Record first = new ClickStream(config).next();
    assertThat((double) first.arrivalMillis(), closeTo(before - 180_000, 3_000));
  }

  @Test
  void oracleJsonListsEveryCell() {
    GeneratorConfig config = GeneratorConfig.parse("--start", "2026-01-01T00:00:30Z", "--count", "3", "--rate", "1",
        "--arrival-jitter", "PT0S");
    Oracle oracle = Oracle.forConfig(config);
    new ClickStream(config).forEachRemaining(oracle::add);
    String json = oracle.toJson();
    assertThat(json, allOf(containsString("\"counted\": 3"), containsString("\"window_start\": 1767225600000"),
        containsString("\"from\": 1767225630000"), containsString("\"to\": 1767225632001")));
  }

  @Test
  void badFlagsAreRejectedWithTheirName() {
    assertThat(assertThrows(IllegalArgumentException.class, () -> GeneratorConfig.parse("--rat", "5")).getMessage(),
        containsString("unknown flag --rat"));
    assertThat(assertThrows(IllegalArgumentException.class,
        () -> GeneratorConfig.parse("--count", "5", "--duration", "PT1M")).getMessage(), containsString("not both"));
    assertThat(assertThrows(IllegalArgumentException.class,
        () -> GeneratorConfig.parse("--late-fraction", "0.7", "--malformed-fraction", "0.5")).getMessage(),
        containsString("add up to at most 1"));
    assertThat(assertThrows(IllegalArgumentException.class,
        () -> GeneratorConfig.parse("--start", "yesterday")).getMessage(), containsString("--start"));
    assertThat(assertThrows(IllegalArgumentException.class,
        () -> GeneratorConfig.parse("--popularity", "pareto")).getMessage(), containsString("zipf:<exponent>"));
  }

  @Test
  void everyMalformedKindIsBroken() {
    for (int kind = 0; kind < MalformedClicks.KINDS; kind++) {
      String text = new String(MalformedClicks.make(kind, 5, 6, 1_767_225_600_000L), StandardCharsets.UTF_8);
      Matcher m = CLICK.matcher(text);
      boolean valid = m.matches() && Long.parseLong(m.group(3)) >= 946_684_800_000L
          && Long.parseLong(m.group(1)) <= 4_294_967_295L;
      assertThat(text, valid, equalTo(false));
    }
    assertThat(MalformedClicks.KINDS, lessThan(100));
  }

  @Test
  void everyClickIsTheJsonTextOfItsNumbersWithItsUserAsKey() {
    GeneratorConfig config = GeneratorConfig.parse(new String[] {"--count", "20000", "--rate", "3000", "--products",
        "1000", "--users", "50", "--late-fraction", "0.1", "--malformed-fraction", "0.01", "--start",
        "2026-11-26T10:00:00Z"});
    ClickStream stream = new ClickStream(config);
    int clicks = 0;
    while (stream.hasNext()) {
      ClickStream.Record r = stream.next();
      if (r.kind() == ClickStream.Kind.MALFORMED) {
        continue;
      }
      String user = new String(r.key(), StandardCharsets.UTF_8);
      String text = "{\"product_id\":" + r.productId() + ",\"user_id\":" + Long.parseLong(user) + ",\"timestamp\":"
          + r.eventTimeMillis() + "}";
      assertThat(new String(r.value(), StandardCharsets.UTF_8), equalTo(text));
      clicks++;
    }
    assertThat(clicks, greaterThan(19_000));
  }

  // --command-config: the Kafka client settings of a file (TLS, SASL, ...) under the producer's own, which win.
  @Test
  void aCommandConfigFileConfiguresTheProducerAndTheAdminClient(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Path file = dir.resolve("client.properties");
    java.nio.file.Files.writeString(file, "security.protocol=SASL_SSL\nacks=0\n");
    GeneratorConfig config = GeneratorConfig.parse("--command-config", file.toString(), "--bootstrap-servers", "b:1");
    java.util.Properties producer = ClickGenerator.producerProperties(config);
    assertThat(producer.getProperty("security.protocol"), equalTo("SASL_SSL"));
    assertThat(producer.getProperty("acks"), equalTo("all"));
    assertThat(ClickGenerator.clientProperties(config).getProperty("bootstrap.servers"), equalTo("b:1"));
    GeneratorConfig missing = GeneratorConfig.parse("--command-config", dir.resolve("nope").toString());
    assertThat(assertThrows(IllegalArgumentException.class, () -> ClickGenerator.clientProperties(missing))
        .getMessage(), containsString("--command-config: cannot read"));
  }

  // --burst-rate: 1,000 clicks in each second of the first 2 s of every 10 s, 100 in every other second, with the same
  // late, malformed and popularity rules; event times never go back, and records still go out in arrival order.
  @Test
  void burstsRaiseTheRateForTheirLengthAtTheStartOfEveryPeriod() {
    String[] args = {"--start", "2026-01-01T00:00:00Z", "--rate", "100", "--duration", "PT30S", "--burst-rate", "1000",
        "--burst-length", "PT2S", "--burst-every", "PT10S", "--late-fraction", "0.1", "--late-delay", "PT5S",
        "--malformed-fraction", "0.05", "--window-size", "PT10S"};
    GeneratorConfig config = GeneratorConfig.parse(args);
    long start = config.start().toEpochMilli();
    assertThat(config.eventCount(), equalTo(3L * (2 * 1000 + 8 * 100)));
    long[] perSecond = new long[30];
    long previous = Long.MIN_VALUE;
    for (long i = 0; i < config.eventCount(); i++) {
      long t = config.eventTimeMillis(i);
      assertThat(t, greaterThanOrEqualTo(previous));
      previous = t;
      perSecond[(int) ((t - start) / 1000)]++;
    }
    for (int second = 0; second < 30; second++) {
      assertThat("second " + second, perSecond[second], equalTo(second % 10 < 2 ? 1000L : 100L));
    }
    List<ClickStream.Record> records = new ArrayList<>();
    new ClickStream(config).forEachRemaining(records::add);
    assertThat((long) records.size(), equalTo(config.eventCount()));
    for (int i = 1; i < records.size(); i++) {
      assertThat(records.get(i).arrivalMillis(), greaterThanOrEqualTo(records.get(i - 1).arrivalMillis()));
    }
    assertThat(ClickGenerator.rates(config),
        equalTo("100 clicks/s of event time (bursts: 1,000/s for PT2S every PT10S)"));
  }

  // Bursts that do not fit their period, or burst settings without a burst rate, are refused by name.
  @Test
  void burstSettingsThatCannotHoldAreRefused() {
    assertThat(assertThrows(IllegalArgumentException.class, () -> GeneratorConfig.parse("--burst-rate", "500",
        "--burst-length", "PT1M", "--burst-every", "PT1M")).getMessage(),
        equalTo("--burst-every must be longer than --burst-length"));
    assertThat(assertThrows(IllegalArgumentException.class, () -> GeneratorConfig.parse("--burst-every", "PT1M"))
        .getMessage(), equalTo("--burst-length and --burst-every need --burst-rate"));
    assertThat(assertThrows(IllegalArgumentException.class, () -> GeneratorConfig.parse("--burst-rate", "0"))
        .getMessage(), containsString("--burst-rate must be in (0, 1000000]"));
  }
}
