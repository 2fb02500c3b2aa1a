package dev.clickstream.pipeline.admin;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;

import dev.clickstream.pipeline.io.OffsetRange;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class KafkaSetupTest {
  @Test
  void theAggregatesTopicIsCreatedCompactedKeepingEachRecordADayFirst() {
    assertThat(KafkaSetup.AGGREGATES_TOPIC_CONFIG.get("cleanup.policy"), equalTo("compact"));
    assertThat(KafkaSetup.AGGREGATES_TOPIC_CONFIG.get("min.compaction.lag.ms"), equalTo("86400000"));
  }

  // cleanup.policy is a list: "compact,delete" compacts too (and deletes past retention); "delete" alone does not.
  @Test
  void aPolicyCompactsWhenItListsCompact() {
    assertThat(KafkaSetup.compacted("compact"), equalTo(true));
    assertThat(KafkaSetup.compacted("compact,delete"), equalTo(true));
    assertThat(KafkaSetup.compacted("delete, compact"), equalTo(true));
    assertThat(KafkaSetup.compacted("delete"), equalTo(false));
    assertThat(KafkaSetup.compacted(""), equalTo(false));
  }

  // A bounded run on Flink reads its pieces by exact offsets in one read: cut by arithmetic, they must still cover each
  // partition's range exactly, and be small enough that every subtask gets some.
  @Test
  void evenPiecesCoverEachRangeExactlyInAboutEqualPiecesAtLeastAsManyAsAsked() {
    List<OffsetRange> ranges = List.of(new OffsetRange("clicks", 0, 1_000, 901_000, 7L, 9_000_000),
        new OffsetRange("clicks", 1, 0, 100_001, 7L, 1_000_010), new OffsetRange("clicks", 2, 5, 8, 7L, 30));
    List<OffsetRange> pieces = KafkaSetup.evenPieces(ranges, 8);

    assertThat(pieces.size() >= 8, equalTo(true));
    Map<Integer, List<OffsetRange>> byPartition = new TreeMap<>();
    pieces.forEach(p -> byPartition.computeIfAbsent(p.partition(), k -> new ArrayList<>()).add(p));
    for (OffsetRange range : ranges) {
      List<OffsetRange> mine = byPartition.get(range.partition());
      assertThat(mine.get(0).start(), equalTo(range.start()));
      assertThat(mine.get(mine.size() - 1).stop(), equalTo(range.stop()));
      for (int i = 1; i < mine.size(); i++) {
        assertThat("no gap, no overlap", mine.get(i).start(), equalTo(mine.get(i - 1).stop()));
      }
      mine.forEach(p -> assertThat(p.fromMillis(), equalTo(7L)));
    }
    // 1,000,004 offsets in at least 8 pieces: none longer than an eighth, rounded up.
    long longest = pieces.stream().mapToLong(p -> p.stop() - p.start()).max().orElseThrow();
    assertThat(longest <= 125_001, equalTo(true));
    assertThat("the big partition is cut, the small one is not", byPartition.get(0).size() > 1
        && byPartition.get(2).size() == 1, equalTo(true));
  }

  @Test
  void evenPiecesNeverMakeAnEmptyPiece() {
    List<OffsetRange> pieces = KafkaSetup.evenPieces(List.of(new OffsetRange("clicks", 0, 10, 13, 0L)), 8);
    assertThat(pieces, equalTo(List.of(new OffsetRange("clicks", 0, 10, 11, 0L),
        new OffsetRange("clicks", 0, 11, 12, 0L), new OffsetRange("clicks", 0, 12, 13, 0L))));
    assertThat(KafkaSetup.evenPieces(List.of(), 8), equalTo(List.of()));
  }
}
