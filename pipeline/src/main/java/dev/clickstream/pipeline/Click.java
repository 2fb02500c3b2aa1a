package dev.clickstream.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.DefaultCoder;
import org.apache.beam.sdk.coders.VarLongCoder;

/** One parsed click. {@code userId} is -1 when the event carried none. Event time is the element's timestamp too. */
@DefaultCoder(Click.ClickCoder.class)
public record Click(long productId, long userId, long eventTimeMillis) {

  /** Deterministic and compact: three variable-length longs. */
  public static final class ClickCoder extends AtomicCoder<Click> {
    private static final VarLongCoder LONG = VarLongCoder.of();

    public static ClickCoder of() {
      return new ClickCoder();
    }

    @Override
    public void encode(Click value, OutputStream out) throws IOException {
      LONG.encode(value.productId(), out);
      LONG.encode(value.userId(), out);
      LONG.encode(value.eventTimeMillis(), out);
    }

    @Override
    public Click decode(InputStream in) throws IOException {
      return new Click(LONG.decode(in), LONG.decode(in), LONG.decode(in));
    }

    @Override
    public void verifyDeterministic() {}
  }
}
