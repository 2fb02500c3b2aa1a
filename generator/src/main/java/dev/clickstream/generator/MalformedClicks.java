package dev.clickstream.generator;

import java.nio.charset.StandardCharsets;

/** The broken records the generator mixes in on request: each kind is one way a real producer goes wrong. */
final class MalformedClicks {
  static final int KINDS = 8;

  private MalformedClicks() {}

  static byte[] make(int kind, long productId, long userId, long eventTime) {
    String text = switch (kind) {
      case 0 -> "click product=" + productId + " user=" + userId;                          // not JSON
      case 1 -> "{\"product_id\":" + productId + ",\"user_id\":" + userId + ",\"timest"; // truncated
      case 2 -> "{\"user_id\":" + userId + ",\"timestamp\":" + eventTime + "}";            // product id missing
      case 3 -> "{\"product_id\":-" + productId + ",\"user_id\":" + userId + ",\"timestamp\":" + eventTime + "}";
      case 4 -> "{\"product_id\":" + (4_294_967_296L + productId) + ",\"user_id\":" + userId
          + ",\"timestamp\":" + eventTime + "}";                                          // over UInt32
      case 5 -> "{\"product_id\":" + productId + ",\"user_id\":" + userId + "}";           // timestamp missing
      case 6 -> "{\"product_id\":" + productId + ",\"user_id\":" + userId + ",\"timestamp\":12}"; // 1970
      case 7 -> "{\"product_id\":\"p" + productId + "\",\"user_id\":" + userId
          + ",\"timestamp\":" + eventTime + "}";                                          // id not a number
      default -> throw new IllegalArgumentException("no malformed kind " + kind);
    };
    return text.getBytes(StandardCharsets.UTF_8);
  }
}
