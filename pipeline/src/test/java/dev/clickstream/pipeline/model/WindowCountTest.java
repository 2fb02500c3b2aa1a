package dev.clickstream.pipeline.model;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class WindowCountTest {
  private static String key(WindowCount c) {
    return new String(c.key(), StandardCharsets.UTF_8);
  }

  // The key is the window, so a compacted topic keeps one record per product and window: every pane of a window has
  // the same key bytes, whatever its count, timing or index, and another window or product has another key.
  @Test
  void everyPaneOfAWindowHasTheWindowsKeyAndNoOtherWindowHasIt() {
    WindowCount onTime = new WindowCount(7, 1_795_687_200_000L, 1_795_687_260_000L, 412, "ON_TIME", 0);
    WindowCount late = new WindowCount(7, 1_795_687_200_000L, 1_795_687_260_000L, 415, "LATE", 3);
    assertThat(key(onTime), equalTo("{\"product_id\":7,\"window_start\":1795687200000}"));
    assertThat(key(late), equalTo(key(onTime)));
    assertThat(key(new WindowCount(7, 1_795_687_260_000L, 1_795_687_320_000L, 1, "ON_TIME", 0)),
        not(equalTo(key(onTime))));
    assertThat(key(new WindowCount(70, 1_795_687_200_000L, 1_795_687_260_000L, 412, "ON_TIME", 0)),
        not(equalTo(key(onTime))));
  }

  @Test
  void theValueCarriesTheKeysFieldsAndThePane() {
    WindowCount c = new WindowCount(4_294_967_295L, 0, 60_000, 9, "LATE", 2);
    assertThat(new String(c.toJson(), StandardCharsets.UTF_8), equalTo("{\"product_id\":4294967295,\"window_start\":0,"
        + "\"window_end\":60000,\"count\":9,\"pane_timing\":\"LATE\",\"pane_index\":2}"));
  }
}
