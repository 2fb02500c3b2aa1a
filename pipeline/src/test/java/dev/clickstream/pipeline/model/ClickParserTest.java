package dev.clickstream.pipeline.model;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.nullValue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ClickParserTest {
  private static final long ARRIVAL = 1_795_687_200_000L; // 2026-11-26T10:00:00Z
  private static final long T = ARRIVAL - 500;

  private static ClickParser.Result parse(String json) {
    return ClickParser.parse(json.getBytes(StandardCharsets.UTF_8), ARRIVAL);
  }

  @Test
  void readsAClickAndIgnoresUnknownFields() {
    ClickParser.Result r = parse("{\"session\":{\"a\":[1,2]},\"product_id\":4294967295,\"user_id\":0,\"timestamp\":"
        + T + ",\"extra\":\"x\"}");
    assertThat(r.click(), equalTo(new Click(4_294_967_295L, 0, T)));
    assertThat(r.reason(), nullValue());
  }

  @Test
  void userIdMayBeAbsent() {
    assertThat(parse("{\"product_id\":3,\"timestamp\":" + T + "}").click(), equalTo(new Click(3, -1, T)));
  }

  // Each line: the record, then the reason it is rejected with.
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "not json at all                                          | not_json",
      "{\"product_id\":1,\"timestamp\":1795687199500              | not_json",
      "{\"product_id\":1,\"timestamp\":1795687199500} trailing    | not_json",
      "[1,2,3]                                                  | not_an_object",
      "42                                                       | not_an_object",
      "null                                                     | not_an_object",
      "{\"product_id\":1,\"product_id\":2,\"timestamp\":1795687199500} | duplicate_field",
      "{\"timestamp\":1795687199500}                             | product_id_missing",
      "{\"product_id\":null,\"timestamp\":1795687199500}         | product_id_missing",
      "{\"product_id\":\"7\",\"timestamp\":1795687199500}        | product_id_not_an_integer",
      "{\"product_id\":7.0,\"timestamp\":1795687199500}          | product_id_not_an_integer",
      "{\"product_id\":true,\"timestamp\":1795687199500}         | product_id_not_an_integer",
      "{\"product_id\":{},\"timestamp\":1795687199500}           | product_id_not_an_integer",
      "{\"product_id\":-1,\"timestamp\":1795687199500}           | product_id_out_of_range",
      "{\"product_id\":4294967296,\"timestamp\":1795687199500}   | product_id_out_of_range",
      "{\"product_id\":99999999999999999999999,\"timestamp\":1795687199500} | product_id_out_of_range",
      "{\"product_id\":1,\"user_id\":\"u\",\"timestamp\":1795687199500} | user_id_not_an_integer",
      "{\"product_id\":1,\"user_id\":-5,\"timestamp\":1795687199500} | user_id_out_of_range",
      "{\"product_id\":1}                                         | timestamp_missing",
      "{\"product_id\":1,\"timestamp\":\"2026-11-26T10:00:00Z\"}  | timestamp_not_an_integer",
      "{\"product_id\":1,\"timestamp\":1.7e12}                    | timestamp_not_an_integer",
      "{\"product_id\":1,\"timestamp\":12}                        | timestamp_out_of_range",
      "{\"product_id\":1,\"timestamp\":-1795687199500}            | timestamp_out_of_range",
      "{\"product_id\":1,\"timestamp\":1795687260001}             | timestamp_out_of_range",
      "{\"product_id\":1,\"timestamp\":99999999999999999999}      | timestamp_out_of_range",
  })
  void rejectsWithAReason(String record, String reason) {
    ClickParser.Result r = parse(record.strip());
    assertThat(r.click(), nullValue());
    assertThat(r.reason().code, equalTo(reason));
  }

  @Test
  void emptyNullInvalidUtf8AndHugeRecordsAreRejectedNotThrown() {
    assertThat(ClickParser.parse(null, ARRIVAL).reason(), equalTo(ClickParser.Reason.NOT_JSON));
    assertThat(ClickParser.parse(new byte[0], ARRIVAL).reason(), equalTo(ClickParser.Reason.NOT_JSON));
    byte[] badUtf8 = {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'};
    assertThat(ClickParser.parse(badUtf8, ARRIVAL).reason(), equalTo(ClickParser.Reason.NOT_JSON));
    byte[] huge = new byte[1 << 20];
    java.util.Arrays.fill(huge, (byte) '[');
    assertThat(ClickParser.parse(huge, ARRIVAL).reason(), equalTo(ClickParser.Reason.NOT_JSON));
    byte[] deep = "[".repeat(5000).getBytes(StandardCharsets.UTF_8);
    assertThat(ClickParser.parse(("{\"x\":" + new String(deep, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8),
        ARRIVAL).reason(), equalTo(ClickParser.Reason.NOT_JSON));
  }

  @Test
  void aClickUpToAMinuteAheadOfItsArrivalIsAccepted() {
    assertThat(parse("{\"product_id\":1,\"timestamp\":" + (ARRIVAL + 60_000) + "}").isClick(), equalTo(true));
  }

  // The fast path (parseCanonical) must give exactly what Jackson gives, or decline.

  @Test
  void theFastPathReadsTheGeneratorsShapeInAnyFieldOrder() {
    for (String json : new String[] {
        "{\"product_id\":7,\"user_id\":42,\"timestamp\":" + T + "}",
        "{\"timestamp\":" + T + ",\"product_id\":7,\"user_id\":42}",
        "{\"user_id\":42,\"timestamp\":" + T + ",\"product_id\":7}",
        "{\"product_id\":7,\"timestamp\":" + T + "}"}) {
      ClickParser.Result fast = ClickParser.parseCanonical(json.getBytes(StandardCharsets.UTF_8), ARRIVAL);
      assertThat(json, fast, equalTo(ClickParser.parseWithJackson(json.getBytes(StandardCharsets.UTF_8), ARRIVAL)));
      assertThat(json, fast.click().productId(), equalTo(7L));
    }
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "{ \"product_id\":7,\"timestamp\":1795687199500}",
      "{\"product_id\":07,\"timestamp\":1795687199500}",
      "{\"product_id\":-7,\"timestamp\":1795687199500}",
      "{\"product_id\":7.0,\"timestamp\":1795687199500}",
      "{\"product_id\":7,\"product_id\":8,\"timestamp\":1795687199500}",
      "{\"product_id\":4294967296,\"timestamp\":1795687199500}",
      "{\"product_id\":7,\"timestamp\":1795687199500,}",
      "{\"product_id\":7,\"timestamp\":17956871995001234567890}",
      "{\"product_id\":7}",
      "{\"product_id\":null,\"timestamp\":1795687199500}",
      "{\"product_id\":7,\"timestamp\":1795687199500,\"extra\":1}",
      "{\"product\\u005fid\":7,\"timestamp\":1795687199500}",
      "{}"})
  void theFastPathDeclinesEveryOtherShape(String json) {
    assertThat(json, ClickParser.parseCanonical(json.getBytes(StandardCharsets.UTF_8), ARRIVAL), nullValue());
  }

  /**
   * Random canonical clicks and every one-byte change of them (deleted, replaced by each byte that matters to JSON):
   * where the fast path answers, its answer equals Jackson's.
   */
  @Test
  void theFastPathAgreesWithJacksonOnEveryOneByteMutation() {
    java.util.Random random = new java.util.Random(6);
    byte[] alphabet = "{}[],:\" 0123456789-+.eE\\nulatrsf_\u00e9".getBytes(StandardCharsets.UTF_8);
    int answered = 0;
    for (int c = 0; c < 200; c++) {
      long product = random.nextInt(5) == 0 ? 4_294_967_295L : random.nextInt(1000);
      String json = "{\"product_id\":" + product + ",\"user_id\":" + random.nextInt(100_000) + ",\"timestamp\":"
          + (T - random.nextInt(100_000)) + "}";
      byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
      for (int at = 0; at < bytes.length; at++) {
        byte[] deleted = new byte[bytes.length - 1];
        System.arraycopy(bytes, 0, deleted, 0, at);
        System.arraycopy(bytes, at + 1, deleted, at, bytes.length - at - 1);
        answered += agree(deleted);
        for (byte b : alphabet) {
          byte[] replaced = bytes.clone();
          replaced[at] = b;
          answered += agree(replaced);
        }
      }
    }
    assertThat("the fast path answered for some mutations", answered > 1000, equalTo(true));
  }

  private static int agree(byte[] value) {
    ClickParser.Result fast = ClickParser.parseCanonical(value, ARRIVAL);
    if (fast == null) {
      return 0;
    }
    assertThat(new String(value, StandardCharsets.UTF_8), fast, equalTo(ClickParser.parseWithJackson(value, ARRIVAL)));
    return 1;
  }
}
