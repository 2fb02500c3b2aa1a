package dev.clickstream.pipeline.model;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Reads one click event: {@code {"product_id": <UInt32>, "user_id": <UInt32>, "timestamp": <epoch ms>}}, unknown
 * fields ignored. Anything else is rejected with a {@link Reason}; nothing here throws on input.
 *
 * <p>Rules beyond the JSON shape: ids are integers in [0, 4294967295]; {@code user_id} may be absent but, when
 * present, must be such an integer; the event time must be on or after 2000-01-01 and at most {@link
 * #MAX_FUTURE_SKEW_MILLIS} after the record's Kafka timestamp (a click cannot be seen before it happened, give or
 * take a producer's clock); a field given twice is rejected rather than guessed at.
 */
public final class ClickParser {

  /** Why a record was rejected: the dead-letter {@code reason} header. */
  public enum Reason {
    NOT_JSON("not_json"),
    NOT_AN_OBJECT("not_an_object"),
    DUPLICATE_FIELD("duplicate_field"),
    PRODUCT_ID_MISSING("product_id_missing"),
    PRODUCT_ID_NOT_AN_INTEGER("product_id_not_an_integer"),
    PRODUCT_ID_OUT_OF_RANGE("product_id_out_of_range"),
    USER_ID_NOT_AN_INTEGER("user_id_not_an_integer"),
    USER_ID_OUT_OF_RANGE("user_id_out_of_range"),
    TIMESTAMP_MISSING("timestamp_missing"),
    TIMESTAMP_NOT_AN_INTEGER("timestamp_not_an_integer"),
    TIMESTAMP_OUT_OF_RANGE("timestamp_out_of_range"),
    /** Valid, but arrived after its window's end plus the allowed lateness. */
    TOO_LATE("too_late"),
    /**
     * Valid, and in time by its own Kafka timestamp, but its partition had already moved past its window's deadline
     * when it was appended (a producer whose clock is behind, or that buffered it for long), or its window was
     * settled before it reached the topic.
     */
    WINDOW_CLOSED("window_closed");

    public final String code;

    Reason(String code) {
      this.code = code;
    }
  }

  public static final long MAX_UINT32 = 0xFFFF_FFFFL;
  /** 2000-01-01T00:00:00Z: earlier event times are clock errors, not clicks. */
  public static final long EARLIEST_EVENT_TIME_MILLIS = 946_684_800_000L;
  /** How far a click's event time may lie after its Kafka timestamp. */
  public static final long MAX_FUTURE_SKEW_MILLIS = 60_000L;
  /** Longest record accepted as a click; a larger one is not JSON we want to walk through. */
  public static final int MAX_CLICK_BYTES = 64 * 1024;

  private static final JsonFactory JSON = JsonFactory.builder()
      .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64).maxNumberLength(64).build())
      .build();

  /** The outcome: a click, or a reason with a short human detail. */
  public record Result(@Nullable Click click, @Nullable Reason reason, String detail) {
    static Result ok(Click click) {
      return new Result(click, null, "");
    }

    static Result reject(Reason reason, String detail) {
      return new Result(null, reason, detail);
    }

    public boolean isClick() {
      return click != null;
    }
  }

  private ClickParser() {}

  public static Result parse(byte @Nullable [] value, long kafkaTimestampMillis) {
    if (value == null || value.length == 0) {
      return Result.reject(Reason.NOT_JSON, "empty record");
    }
    if (value.length > MAX_CLICK_BYTES) {
      return Result.reject(Reason.NOT_JSON, "record of " + value.length + " bytes, more than " + MAX_CLICK_BYTES);
    }
    Result canonical = parseCanonical(value, kafkaTimestampMillis);
    return canonical != null ? canonical : parseWithJackson(value, kafkaTimestampMillis);
  }

  /** The full parse, for every shape of input; {@link #parse} takes it when the fast path declines. */
  static Result parseWithJackson(byte[] value, long kafkaTimestampMillis) {
    String encodingProblem = utf8Problem(value);
    if (encodingProblem != null) {
      return Result.reject(Reason.NOT_JSON, encodingProblem);
    }
    long productId = -1;
    long userId = -1;
    long timestamp = Long.MIN_VALUE;
    boolean sawProduct = false;
    boolean sawTimestamp = false;
    try (JsonParser p = JSON.createParser(value)) {
      JsonToken first = p.nextToken();
      if (first == null) {
        return Result.reject(Reason.NOT_JSON, "no JSON value, only whitespace");
      }
      if (first != JsonToken.START_OBJECT) {
        return Result.reject(Reason.NOT_AN_OBJECT, "the record is not a JSON object");
      }
      JsonToken t;
      while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        JsonToken v = p.nextToken();
        switch (field) {
          case "product_id" -> {
            if (v == JsonToken.VALUE_NULL) {
              continue;
            }
            if (v != JsonToken.VALUE_NUMBER_INT) {
              return Result.reject(Reason.PRODUCT_ID_NOT_AN_INTEGER, "product_id is " + describe(p, v));
            }
            productId = uint32(p);
            if (productId < 0) {
              return Result.reject(Reason.PRODUCT_ID_OUT_OF_RANGE, "product_id " + p.getText() + " is not a UInt32");
            }
            sawProduct = true;
          }
          case "user_id" -> {
            if (v == JsonToken.VALUE_NULL) {
              continue;
            }
            if (v != JsonToken.VALUE_NUMBER_INT) {
              return Result.reject(Reason.USER_ID_NOT_AN_INTEGER, "user_id is " + describe(p, v));
            }
            userId = uint32(p);
            if (userId < 0) {
              return Result.reject(Reason.USER_ID_OUT_OF_RANGE, "user_id " + p.getText() + " is not a UInt32");
            }
          }
          case "timestamp" -> {
            if (v == JsonToken.VALUE_NULL) {
              continue;
            }
            if (v != JsonToken.VALUE_NUMBER_INT) {
              return Result.reject(Reason.TIMESTAMP_NOT_AN_INTEGER, "timestamp is " + describe(p, v));
            }
            if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
              return Result.reject(Reason.TIMESTAMP_OUT_OF_RANGE, "timestamp " + p.getText() + " is out of range");
            }
            timestamp = p.getLongValue();
            sawTimestamp = true;
          }
          default -> p.skipChildren();
        }
      }
      if (t != JsonToken.END_OBJECT) {
        return Result.reject(Reason.NOT_JSON, "the object is not closed");
      }
      if (p.nextToken() != null) {
        return Result.reject(Reason.NOT_JSON, "data after the JSON object");
      }
    } catch (JsonProcessingException e) {
      String message = e.getOriginalMessage();
      if (message != null && message.startsWith("Duplicate field")) {
        return Result.reject(Reason.DUPLICATE_FIELD, shorten(message));
      }
      return Result.reject(Reason.NOT_JSON, shorten(message));
    } catch (IOException | RuntimeException e) {
      return Result.reject(Reason.NOT_JSON, shorten(e.toString()));
    }
    if (!sawProduct) {
      return Result.reject(Reason.PRODUCT_ID_MISSING, "no product_id");
    }
    if (!sawTimestamp) {
      return Result.reject(Reason.TIMESTAMP_MISSING, "no timestamp");
    }
    return checked(productId, userId, timestamp, kafkaTimestampMillis);
  }

  private static Result checked(long productId, long userId, long timestamp, long kafkaTimestampMillis) {
    if (timestamp < EARLIEST_EVENT_TIME_MILLIS) {
      return Result.reject(Reason.TIMESTAMP_OUT_OF_RANGE, "timestamp " + timestamp + " is before 2000-01-01");
    }
    if (timestamp > kafkaTimestampMillis + MAX_FUTURE_SKEW_MILLIS) {
      return Result.reject(Reason.TIMESTAMP_OUT_OF_RANGE, "timestamp " + timestamp + " is more than "
          + MAX_FUTURE_SKEW_MILLIS / 1000 + " s after the record's Kafka timestamp " + kafkaTimestampMillis);
    }
    return Result.ok(new Click(productId, userId, timestamp));
  }

  private static final byte[] PRODUCT_ID = "\"product_id\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] USER_ID = "\"user_id\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] TIMESTAMP = "\"timestamp\":".getBytes(StandardCharsets.US_ASCII);

  /**
   * The fast path, for the shape producers write: {@code {"product_id":1,"user_id":2,"timestamp":3}} with the three
   * fields in any order, {@code user_id} optional, no whitespace, plain non-negative integers without leading zeros,
   * ids of at most 10 digits and timestamps of at most 18. Such bytes are ASCII and valid JSON, and Jackson reads them
   * as the same three numbers, so the result is the one the full parse would give; anything else (spaces, other
   * fields, nulls, escapes, signs, fractions, a repeated field, an id above UInt32, ...) returns null and takes the
   * full parse. Several times faster than Jackson on the path every click takes.
   */
  static @Nullable Result parseCanonical(byte[] v, long kafkaTimestampMillis) {
    int n = v.length;
    if (n < 2 || v[0] != '{' || v[n - 1] != '}') {
      return null;
    }
    long productId = -1;
    long userId = -1;
    long timestamp = -1;
    int i = 1;
    while (true) {
      int field;
      if (startsWith(v, i, PRODUCT_ID)) {
        field = 0;
        i += PRODUCT_ID.length;
      } else if (startsWith(v, i, USER_ID)) {
        field = 1;
        i += USER_ID.length;
      } else if (startsWith(v, i, TIMESTAMP)) {
        field = 2;
        i += TIMESTAMP.length;
      } else {
        return null;
      }
      int digitsStart = i;
      long number = 0;
      while (i < n && v[i] >= '0' && v[i] <= '9') {
        number = number * 10 + (v[i] - '0');
        i++;
      }
      int digits = i - digitsStart;
      if (digits == 0 || digits > (field == 2 ? 18 : 10) || digits > 1 && v[digitsStart] == '0') {
        return null;
      }
      switch (field) {
        case 0 -> {
          if (productId >= 0 || number > MAX_UINT32) {
            return null;
          }
          productId = number;
        }
        case 1 -> {
          if (userId >= 0 || number > MAX_UINT32) {
            return null;
          }
          userId = number;
        }
        default -> {
          if (timestamp >= 0) {
            return null;
          }
          timestamp = number;
        }
      }
      if (i == n - 1) {
        break;
      }
      if (v[i] != ',') {
        return null;
      }
      i++;
    }
    if (productId < 0 || timestamp < 0) {
      return null;
    }
    return checked(productId, userId, timestamp, kafkaTimestampMillis);
  }

  private static boolean startsWith(byte[] v, int at, byte[] prefix) {
    if (v.length - at < prefix.length) {
      return false;
    }
    for (int k = 0; k < prefix.length; k++) {
      if (v[at + k] != prefix[k]) {
        return false;
      }
    }
    return true;
  }

  /**
   * Why the bytes are not UTF-8 JSON text, or null. Jackson would read UTF-16/32 (it detects them) and skips the
   * strings of unknown fields without decoding them, so the encoding is checked here: no NUL byte (UTF-16/32 text
   * has them; JSON text never does), and valid UTF-8 wherever a byte is not ASCII. ASCII, the usual click, costs
   * one pass.
   */
  static @Nullable String utf8Problem(byte[] value) {
    boolean ascii = true;
    for (byte b : value) {
      if (b == 0) {
        return "a NUL byte: not UTF-8 JSON text (UTF-16 or UTF-32?)";
      }
      ascii &= b > 0;
    }
    if (ascii) {
      return null;
    }
    try {
      StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(value));
      return null;
    } catch (CharacterCodingException e) {
      return "invalid UTF-8: " + e.getMessage();
    }
  }

  /** The value as a UInt32, or -1 if it is negative or too large. */
  private static long uint32(JsonParser p) throws IOException {
    if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
      BigInteger big = p.getBigIntegerValue();
      return big.signum() >= 0 && big.bitLength() <= 32 ? big.longValue() : -1;
    }
    long v = p.getLongValue();
    return v >= 0 && v <= MAX_UINT32 ? v : -1;
  }

  private static String describe(JsonParser p, JsonToken token) throws IOException {
    return switch (token) {
      case VALUE_STRING -> "a string";
      case VALUE_NUMBER_FLOAT -> "a fraction (" + shorten(p.getText()) + ")";
      case VALUE_TRUE, VALUE_FALSE -> "a boolean";
      case START_OBJECT -> "an object";
      case START_ARRAY -> "an array";
      default -> String.valueOf(token);
    };
  }

  private static String shorten(@Nullable String text) {
    if (text == null) {
      return "";
    }
    String oneLine = text.replace('\n', ' ').replace('\r', ' ');
    return oneLine.length() <= 200 ? oneLine : oneLine.substring(0, 200) + "...";
  }
}
