package dev.clickstream.pipeline.launch;

import dev.clickstream.pipeline.config.ClickCountOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.runners.flink.FlinkPipelineOptions;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;

/**
 * The options a run starts with: the command line, plus what each runner needs to run this pipeline in production,
 * wherever the command line does not say otherwise. Parsing asks no service anything: the session cluster's own
 * defaults are taken when the run starts ({@link FlinkLaunch#applyClusterDefaults}).
 */
public final class RunnerOptions {
  private RunnerOptions() {}

  /**
   * Parses and validates the options. On the DirectRunner, {@code run} would block until the pipeline ends, leaving
   * no handle to cancel a continuous run on SIGTERM: unless told otherwise it returns at once instead; and the
   * {@link DirectRunnerLaunch#productionFlags} apply unless given. On Flink, {@link FlinkLaunch#productionFlags} and
   * the job's name.
   */
  public static ClickCountOptions parse(String... args) {
    PipelineOptionsFactory.register(ClickCountOptions.class);
    ClickCountOptions options = PipelineOptionsFactory.fromArgs(args).withValidation().as(ClickCountOptions.class);
    Map<String, String> defaults = new LinkedHashMap<>();
    if (options.getRunner().getSimpleName().equals("DirectRunner")) {
      for (String flag : DirectRunnerLaunch.productionFlags()) {
        defaults.put(flag.substring(0, flag.indexOf('=')), flag.substring(flag.indexOf('=') + 1));
      }
      defaults.put("--blockOnRun", "false");
    } else if (FlinkLaunch.isFlink(options)) {
      boolean bounded = options.getFrom() != null || options.getTo() != null;
      defaults.putAll(FlinkLaunch.productionFlags(options.as(FlinkPipelineOptions.class), bounded));
      if (!bounded) {
        defaults.put("--jobName", FlinkLaunch.continuousJobName(options.getConsumerGroup()));
      } else if (Boolean.TRUE.equals(options.getSettle())) {
        defaults.put("--jobName", FlinkLaunch.settleJobName(options.getInputTopic(), options.getClickHouseTable()));
      }
    }
    if (defaults.isEmpty()) {
      return options;
    }
    List<String> withDefaults = new ArrayList<>(Arrays.asList(args));
    defaults.forEach((name, value) -> {
      if (Arrays.stream(args).noneMatch(a -> a.equals(name) || a.startsWith(name + "="))) {
        withDefaults.add(name + "=" + value);
      }
    });
    return PipelineOptionsFactory.fromArgs(withDefaults.toArray(String[]::new)).withValidation()
        .as(ClickCountOptions.class);
  }

  /** Whether the pipeline's readers run in the launcher's JVM: on the DirectRunner and Flink's {@code [local]}. */
  static boolean readsInThisJvm(PipelineOptions options) {
    return !FlinkLaunch.isFlink(options) || FlinkLaunch.isLocal(options.as(FlinkPipelineOptions.class));
  }
}
