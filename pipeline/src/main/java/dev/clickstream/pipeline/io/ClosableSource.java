package dev.clickstream.pipeline.io;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.io.UnboundedSource;
import org.apache.beam.sdk.options.PipelineOptions;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An unbounded source (KafkaIO's, on the DirectRunner) whose open readers are kept under the run's id, so that the
 * launcher can close what a failed or cancelled run left open ({@link #closeReadersOf}). It reads nothing itself:
 * every call goes to the source and the readers it wraps.
 *
 * <p>Why: the DirectRunner does not close an unbounded source's readers when a run fails or is cancelled, and the
 * launcher restarts a failed continuous run in the same JVM. Each KafkaIO reader left open keeps two consumers, its
 * poll thread and its offset-fetching thread: RestartCostIT counted 8 more consumers, 10 more threads and 17 more
 * sockets after 4 restarts.
 */
public final class ClosableSource<T, C extends UnboundedSource.CheckpointMark> extends UnboundedSource<T, C> {
  private static final Logger LOG = LoggerFactory.getLogger(ClosableSource.class);
  private static final Map<String, Set<TrackedReader<?>>> OPEN = new ConcurrentHashMap<>();

  private final UnboundedSource<T, C> source;
  private final String runId;

  public ClosableSource(UnboundedSource<T, C> source, String runId) {
    this.source = source;
    this.runId = runId;
  }

  /** Closes the readers a run left open; returns how many. */
  public static int closeReadersOf(String runId) {
    Set<TrackedReader<?>> left = OPEN.remove(runId);
    if (left == null) {
      return 0;
    }
    for (TrackedReader<?> reader : left) {
      try {
        reader.reader.close();
      } catch (IOException | RuntimeException e) {
        LOG.warn("could not close a reader of the ended run: {}", e.toString());
      }
    }
    return left.size();
  }

  @Override
  public List<ClosableSource<T, C>> split(int desiredNumSplits, PipelineOptions options) throws Exception {
    return source.split(desiredNumSplits, options).stream()
        .map(split -> new ClosableSource<T, C>(split, runId)).toList();
  }

  @Override
  public UnboundedReader<T> createReader(PipelineOptions options, @Nullable C checkpointMark) throws IOException {
    TrackedReader<T> reader = new TrackedReader<>(this, source.createReader(options, checkpointMark));
    OPEN.computeIfAbsent(runId, k -> ConcurrentHashMap.newKeySet()).add(reader);
    return reader;
  }

  @Override
  public Coder<C> getCheckpointMarkCoder() {
    return source.getCheckpointMarkCoder();
  }

  @Override
  public Coder<T> getOutputCoder() {
    return source.getOutputCoder();
  }

  @Override
  public boolean requiresDeduping() {
    return source.requiresDeduping();
  }

  @Override
  public void validate() {
    source.validate();
  }

  /** The source's reader, forgotten when the runner closes it. */
  private static final class TrackedReader<T> extends UnboundedReader<T> {
    private final ClosableSource<T, ?> source;
    private final UnboundedReader<T> reader;

    TrackedReader(ClosableSource<T, ?> source, UnboundedReader<T> reader) {
      this.source = source;
      this.reader = reader;
    }

    @Override
    public boolean start() throws IOException {
      return reader.start();
    }

    @Override
    public boolean advance() throws IOException {
      return reader.advance();
    }

    @Override
    public T getCurrent() throws NoSuchElementException {
      return reader.getCurrent();
    }

    @Override
    public Instant getCurrentTimestamp() throws NoSuchElementException {
      return reader.getCurrentTimestamp();
    }

    @Override
    public byte[] getCurrentRecordId() throws NoSuchElementException {
      return reader.getCurrentRecordId();
    }

    @Override
    public Instant getWatermark() {
      return reader.getWatermark();
    }

    @Override
    public CheckpointMark getCheckpointMark() {
      return reader.getCheckpointMark();
    }

    @Override
    public long getSplitBacklogBytes() {
      return reader.getSplitBacklogBytes();
    }

    @Override
    public long getTotalBacklogBytes() {
      return reader.getTotalBacklogBytes();
    }

    @Override
    public UnboundedSource<T, ?> getCurrentSource() {
      return source;
    }

    @Override
    public void close() throws IOException {
      Set<TrackedReader<?>> open = OPEN.get(source.runId);
      if (open != null) {
        open.remove(this);
      }
      reader.close();
    }
  }
}
