package dev.clickstream.pipeline.launch;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.allOf;
import static org.hamcrest.Matchers.containsString;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class SupervisorTest {
  // Flink's words when a savepoint's state has no operator in the new job (seen restoring a --hotKeyFanout=4 savepoint
  // into --hotKeyFanout=1): the launcher says which options shape the graph and how to start without the savepoint.
  @Test
  void aSavepointOfAnotherGraphGetsAdvice() {
    String flink = "Pipeline execution failed (java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint"
        + " file:/sp/savepoint-22762a. Cannot map checkpoint/savepoint state for operator d3e94dc84de58b0aa4b48150bbeda945"
        + " to the new program, because the operator is not available in the new program.)";
    assertThat(Supervisor.advice(flink), allOf(containsString("--hotKeyFanout"), containsString("--savepointPath")));
  }

  @Test
  void otherFailuresGetNone() {
    assertNull(Supervisor.advice("Pipeline execution failed (java.net.ConnectException: Connection refused)"));
  }
}
