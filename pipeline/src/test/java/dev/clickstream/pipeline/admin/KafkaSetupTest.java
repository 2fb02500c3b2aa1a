package dev.clickstream.pipeline.admin;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;

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
}
