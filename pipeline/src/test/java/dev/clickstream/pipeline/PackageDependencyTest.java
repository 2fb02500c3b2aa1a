package dev.clickstream.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The pipeline's packages depend on each other in one direction only: {@code main} → {@code launch} → {@code admin}
 * → {@code transforms} → {@code io} → {@code config} → {@code model}. A package names only those after it, so none
 * can take part in a cycle. Read from the sources, so that imports and fully qualified names used only in javadoc
 * count too.
 */
class PackageDependencyTest {
  /** Top to bottom; {@code ""} is {@code dev.clickstream.pipeline} itself, where {@code main} is. */
  static final List<String> LAYERS = List.of("", "launch", "admin", "transforms", "io", "config", "model");

  private static final Path SOURCES = Path.of("src/main/java/dev/clickstream/pipeline");
  private static final Pattern REFERENCE =
      Pattern.compile("dev\\.clickstream\\.pipeline((?:\\.[a-z][a-z0-9_]*)*)\\.[A-Z]\\w*");

  record Source(String pkg, Path file, String text) {}

  static List<Source> sources() throws IOException {
    List<Source> found = new ArrayList<>();
    try (Stream<Path> files = Files.walk(SOURCES)) {
      for (Path file : files.filter(f -> f.toString().endsWith(".java")).sorted().toList()) {
        String pkg = SOURCES.relativize(file.getParent()).toString().replace('/', '.');
        found.add(new Source(pkg, file, Files.readString(file, StandardCharsets.UTF_8)));
      }
    }
    return found;
  }

  @Test
  void everyPackageHasAPlaceInTheLayers() throws IOException {
    List<String> unplaced = sources().stream().map(Source::pkg).distinct()
        .filter(p -> !LAYERS.contains(p)).toList();
    assertEquals(List.of(), unplaced, "packages missing from PackageDependencyTest.LAYERS");
  }

  @Test
  void packagesNameOnlyThePackagesBelowThem() throws IOException {
    List<String> upward = new ArrayList<>();
    for (Source s : sources()) {
      Matcher m = REFERENCE.matcher(s.text());
      while (m.find()) {
        String target = m.group(1).isEmpty() ? "" : m.group(1).substring(1);
        int from = LAYERS.indexOf(s.pkg());
        int to = LAYERS.indexOf(target);
        if (to < 0 || to < from) {
          upward.add(s.file().getFileName() + " (" + name(s.pkg()) + ") names " + m.group() + " (" + name(target) + ")");
        }
      }
    }
    assertEquals(List.of(), upward, "references against the direction " + LAYERS);
  }

  /**
   * The graph is one function of the settings and the launcher's plan: which runner it runs on is decided in {@code
   * launch} and reaches the graph as plain values.
   */
  @Test
  void theGraphDoesNotAskWhichRunnerItIsOn() throws IOException {
    Pattern runner = Pattern.compile("FlinkRunner|DirectRunner|FlinkLaunch|DirectRunnerLaunch|getRunner|isFlink"
        + "|FlinkPipelineOptions|DirectOptions");
    List<String> asking = new ArrayList<>();
    for (Source s : sources()) {
      boolean graph = s.pkg().equals("transforms") || s.pkg().equals("io") || s.pkg().equals("model")
          || s.file().getFileName().toString().equals("ClickCountPipeline.java");
      Matcher m = runner.matcher(code(s.text()));
      if (graph && m.find()) {
        asking.add(s.file().getFileName() + ": " + m.group());
      }
    }
    assertEquals(List.of(), asking, "graph code that names a runner");
  }

  @Test
  void theLayersListEveryPackageThatExists() throws IOException {
    for (String layer : LAYERS) {
      assertTrue(Files.isDirectory(SOURCES.resolve(layer.replace('.', '/'))), "no package " + name(layer));
    }
  }

  /** The source without its comments and string literals: what a comment explains is not a branch. */
  static String code(String source) {
    StringBuilder code = new StringBuilder();
    int i = 0;
    while (i < source.length()) {
      if (source.startsWith("/*", i)) {
        int end = source.indexOf("*/", i + 2);
        i = end < 0 ? source.length() : end + 2;
      } else if (source.startsWith("//", i)) {
        int end = source.indexOf('\n', i);
        i = end < 0 ? source.length() : end;
      } else if (source.charAt(i) == '"' || source.charAt(i) == '\'') {
        char quote = source.charAt(i++);
        while (i < source.length() && source.charAt(i) != quote) {
          i += source.charAt(i) == '\\' ? 2 : 1;
        }
        i++;
        code.append(quote).append(quote);
      } else {
        code.append(source.charAt(i++));
      }
    }
    return code.toString();
  }

  private static String name(String pkg) {
    return pkg.isEmpty() ? "main" : pkg;
  }
}
