package dev.clickstream.generator;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The generator's settings. Every flag has a named default below; {@link #usage()} lists them.
 *
 * <p>Time model: the stream holds {@code rate} events per second of <em>event time</em>, starting at {@code start};
 * with a {@link Burst}, {@code burst.rate()} instead for the first {@code burst.length()} of every {@code
 * burst.every()}.
 * Each record's Kafka timestamp is its simulated arrival: event time plus a small jitter, or plus {@code lateDelay}
 * for the late fraction. {@code pace=max} sends as fast as Kafka takes it (an hour of clicks in seconds, lateness
 * still well defined by the Kafka timestamps); {@code pace=real} sends each record when the wall clock reaches its
 * arrival time, which with {@code --start now} is a live stream.
 */
public record GeneratorConfig(
    String bootstrapServers,
    String topic,
    int partitions,
    int products,
    double zipfExponent,
    int users,
    double rate,
    Burst burst,
    Pace pace,
    long count,
    Duration duration,
    Instant start,
    long seed,
    double lateFraction,
    Duration lateDelay,
    Duration arrivalJitter,
    double malformedFraction,
    Duration windowSize,
    Duration allowedLateness,
    Path expectedFile,
    Duration progressInterval,
    Path commandConfig,
    Duration clockOffset) {

  public enum Pace { MAX, REAL }

  /**
   * Bursts: {@code rate} events per second of event time, instead of the steady rate, for the first {@code length} of
   * every {@code every} from the start (a flash sale, a campaign going out): with {@code --pace real}, the same surge
   * on the wall clock.
   */
  public record Burst(double rate, Duration length, Duration every) {
    public Burst {
      require(rate > 0 && rate <= 1_000_000, "--burst-rate must be in (0, 1000000] events per second of event time");
      require(length.toMillis() > 0, "--burst-length must be positive");
      require(every.compareTo(length) > 0, "--burst-every must be longer than --burst-length");
    }

    /** Events in one burst, and in one whole period (burst and steady part), at steady rate {@code steady}. */
    double inBurst() {
      return rate * length.toMillis() / 1000.0;
    }

    double perPeriod(double steady) {
      return inBurst() + steady * (every.toMillis() - length.toMillis()) / 1000.0;
    }
  }

  public static final String DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092";
  public static final String DEFAULT_TOPIC = "clicks";
  public static final int DEFAULT_PARTITIONS = 2;
  public static final int DEFAULT_PRODUCTS = 100;
  public static final String DEFAULT_POPULARITY = "uniform";
  public static final int DEFAULT_USERS = 10_000;
  public static final double DEFAULT_RATE = 1_000;
  public static final long DEFAULT_COUNT = 100_000;
  public static final long DEFAULT_SEED = 42;
  public static final Duration DEFAULT_LATE_DELAY = Duration.ofSeconds(90);
  public static final Duration DEFAULT_ARRIVAL_JITTER = Duration.ofMillis(500);
  public static final Duration DEFAULT_WINDOW_SIZE = Duration.ofSeconds(60);
  public static final Duration DEFAULT_ALLOWED_LATENESS = Duration.ofSeconds(60);
  public static final Duration DEFAULT_PROGRESS_INTERVAL = Duration.ofSeconds(2);
  public static final Duration DEFAULT_BURST_LENGTH = Duration.ofSeconds(10);
  public static final Duration DEFAULT_BURST_EVERY = Duration.ofSeconds(60);
  /** Event times before this are absurd to the pipeline; the generator refuses to start earlier. */
  public static final Instant EARLIEST_START = Instant.parse("2000-01-01T00:00:00Z");

  public GeneratorConfig {
    require(partitions >= 1, "--partitions must be at least 1");
    require(products >= 1, "--products must be at least 1");
    require(users >= 1, "--users must be at least 1");
    require(zipfExponent >= 0, "--popularity zipf exponent must be >= 0");
    require(rate > 0 && rate <= 1_000_000, "--rate must be in (0, 1000000] events per second of event time");
    require(count > 0 || duration != null, "give --count or --duration");
    require(duration == null || !duration.isNegative() && !duration.isZero(), "--duration must be positive");
    require(!start.isBefore(EARLIEST_START), "--start must not be before " + EARLIEST_START);
    require(lateFraction >= 0 && malformedFraction >= 0 && lateFraction + malformedFraction <= 1,
        "--late-fraction and --malformed-fraction must be >= 0 and add up to at most 1");
    require(!lateDelay.isNegative() && !arrivalJitter.isNegative(), "delays must not be negative");
    require(windowSize.toMillis() > 0, "--window-size must be positive");
    require(!allowedLateness.isNegative(), "--allowed-lateness must not be negative");
    require(progressInterval.toMillis() > 0, "--progress-interval must be positive");
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new IllegalArgumentException(message);
    }
  }

  /** Number of events: {@code count}, or the events of {@code duration} at the rate (and bursts) when it is given. */
  public long eventCount() {
    if (duration == null) {
      return count;
    }
    if (burst == null) {
      return (long) Math.floor(duration.toMillis() * rate / 1000.0);
    }
    long every = burst.every().toMillis();
    long length = burst.length().toMillis();
    long periods = duration.toMillis() / every;
    long rest = duration.toMillis() % every;
    double inRest = rest <= length ? rest * burst.rate() / 1000.0 : burst.inBurst() + (rest - length) * rate / 1000.0;
    return (long) Math.floor(periods * burst.perPeriod(rate) + inRest);
  }

  /**
   * Event time of event {@code i}, in whole milliseconds: evenly spaced at {@code rate} per second; with bursts, at the
   * burst's rate in each period's first {@code length} and at {@code rate} in the rest. Never decreasing in {@code i}.
   */
  public long eventTimeMillis(long i) {
    if (burst == null) {
      return start.toEpochMilli() + (long) Math.floor(i * 1000.0 / rate);
    }
    double perPeriod = burst.perPeriod(rate);
    long period = (long) Math.floor(i / perPeriod);
    double within = Math.max(0, i - period * perPeriod); // rounding may put it a hair below the period's start
    double offset = within < burst.inBurst() ? within * 1000.0 / burst.rate()
        : burst.length().toMillis() + (within - burst.inBurst()) * 1000.0 / rate;
    long every = burst.every().toMillis();
    return start.toEpochMilli() + period * every + Math.min((long) Math.floor(offset), every - 1);
  }

  /** The event-time interval [start, end) this run covers. */
  public long endMillis() {
    return duration != null ? start.toEpochMilli() + duration.toMillis() : eventTimeMillis(eventCount() - 1) + 1;
  }

  public static String usage() {
    return String.join("\n",
        "Usage: click-generator [--flag value]...",
        "  --bootstrap-servers HOST:PORT  Kafka brokers (default " + DEFAULT_BOOTSTRAP_SERVERS + ")",
        "  --topic NAME                   topic to write (default " + DEFAULT_TOPIC + ")",
        "  --partitions N                 partitions if the topic must be created (default " + DEFAULT_PARTITIONS + ")",
        "  --products N                   product ids 1..N (default " + DEFAULT_PRODUCTS + ")",
        "  --popularity uniform|zipf:S    product popularity; zipf:1.1 makes product 1 the most clicked (default "
            + DEFAULT_POPULARITY + ")",
        "  --users N                      user ids 1..N, also the record key (default " + DEFAULT_USERS + ")",
        "  --rate N                       events per second of event time, outside bursts (default " + (long) DEFAULT_RATE
            + ")",
        "  --burst-rate N                 bursts: this many events per second of event time instead, for --burst-length"
            + " at the start of every --burst-every (default: no bursts)",
        "  --burst-length PT10S           how long each burst lasts (default " + DEFAULT_BURST_LENGTH + ")",
        "  --burst-every PT60S            how often a burst starts, from --start (default " + DEFAULT_BURST_EVERY + ")",
        "  --pace max|real                max: as fast as Kafka takes them; real: each when the clock reaches its arrival"
            + " time (default max)",
        "  --count N | --duration PT10M   how many events, or how much event time (default --count " + DEFAULT_COUNT + ")",
        "  --start now|ISO-8601           event time of the first click (default now, whole seconds)",
        "  --seed N                       same seed, same events (default " + DEFAULT_SEED + ")",
        "  --late-fraction F              fraction of clicks that arrive --late-delay after their event time (default 0)",
        "  --late-delay PT90S             how late the late ones arrive (default " + DEFAULT_LATE_DELAY + ")",
        "  --arrival-jitter PT0.5S        on-time clicks arrive up to this long after their event time (default "
            + DEFAULT_ARRIVAL_JITTER + ")",
        "  --malformed-fraction F         fraction of records that are not valid clicks (default 0)",
        "  --window-size PT60S            window size the oracle counts in (default " + DEFAULT_WINDOW_SIZE + ")",
        "  --allowed-lateness PT60S       allowed lateness the oracle applies (default " + DEFAULT_ALLOWED_LATENESS + ")",
        "  --expected FILE                write the exact counts the pipeline must produce (JSON)",
        "  --progress-interval PT2S       how often progress goes to stderr (default " + DEFAULT_PROGRESS_INTERVAL + ")",
        "  --command-config FILE          Kafka client properties (TLS, SASL, ...) for the producer and the admin client,"
            + " as Kafka's tools take them; secrets stay in the file",
        "  --clock-offset -PT3M           act as a producer whose clock is this far off the wall clock: --start now is"
            + " the wall clock plus it, and --pace real sends each record when the wall clock is its arrival minus it"
            + " (default PT0S)");
  }

  /** Parses {@code --flag value} pairs; unknown flags and bad values are errors that name the flag. */
  public static GeneratorConfig parse(String... args) {
    Map<String, String> flags = new LinkedHashMap<>();
    List<String> rest = new ArrayList<>(List.of(args));
    Iterator<String> it = rest.iterator();
    while (it.hasNext()) {
      String flag = it.next();
      String value;
      if (!flag.startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument '" + flag + "'");
      }
      int eq = flag.indexOf('=');
      if (eq > 0) {
        value = flag.substring(eq + 1);
        flag = flag.substring(0, eq);
      } else if (it.hasNext()) {
        value = it.next();
      } else {
        throw new IllegalArgumentException(flag + " needs a value");
      }
      if (flags.put(flag.substring(2), value) != null) {
        throw new IllegalArgumentException(flag + " given twice");
      }
    }
    Flags f = new Flags(flags);
    String popularity = f.string("popularity", DEFAULT_POPULARITY).toLowerCase(Locale.ROOT);
    double zipf;
    if (popularity.equals("uniform")) {
      zipf = 0;
    } else if (popularity.startsWith("zipf:")) {
      zipf = f.parse("popularity", popularity.substring(5), Double::parseDouble);
    } else {
      throw new IllegalArgumentException("--popularity must be 'uniform' or 'zipf:<exponent>', not '" + popularity + "'");
    }
    Duration duration = f.has("duration") ? f.duration("duration", null) : null;
    if (duration != null && f.has("count")) {
      throw new IllegalArgumentException("give --count or --duration, not both");
    }
    Burst burst = null;
    if (f.has("burst-rate")) {
      burst = new Burst(f.decimal("burst-rate", 0), f.duration("burst-length", DEFAULT_BURST_LENGTH),
          f.duration("burst-every", DEFAULT_BURST_EVERY));
    } else if (f.has("burst-length") || f.has("burst-every")) {
      throw new IllegalArgumentException("--burst-length and --burst-every need --burst-rate");
    }
    String startText = f.string("start", "now");
    Duration clockOffset = f.duration("clock-offset", Duration.ZERO);
    Instant start = startText.equals("now")
        ? Instant.now().plus(clockOffset).truncatedTo(ChronoUnit.SECONDS)
        : f.parse("start", startText, Instant::parse);
    GeneratorConfig config = new GeneratorConfig(
        f.string("bootstrap-servers", DEFAULT_BOOTSTRAP_SERVERS),
        f.string("topic", DEFAULT_TOPIC),
        f.integer("partitions", DEFAULT_PARTITIONS),
        f.integer("products", DEFAULT_PRODUCTS),
        zipf,
        f.integer("users", DEFAULT_USERS),
        f.decimal("rate", DEFAULT_RATE),
        burst,
        f.parse("pace", f.string("pace", "max"), s -> Pace.valueOf(s.toUpperCase(Locale.ROOT))),
        duration != null ? 0 : f.longValue("count", DEFAULT_COUNT),
        duration,
        start,
        f.longValue("seed", DEFAULT_SEED),
        f.decimal("late-fraction", 0),
        f.duration("late-delay", DEFAULT_LATE_DELAY),
        f.duration("arrival-jitter", DEFAULT_ARRIVAL_JITTER),
        f.decimal("malformed-fraction", 0),
        f.duration("window-size", DEFAULT_WINDOW_SIZE),
        f.duration("allowed-lateness", DEFAULT_ALLOWED_LATENESS),
        f.has("expected") ? Path.of(f.string("expected", null)) : null,
        f.duration("progress-interval", DEFAULT_PROGRESS_INTERVAL),
        f.has("command-config") ? Path.of(f.string("command-config", null)) : null,
        clockOffset);
    f.rejectUnused();
    return config;
  }

  /** Typed access to the parsed flags, remembering which were read so that typos are reported. */
  private static final class Flags {
    private final Map<String, String> values;
    private final java.util.Set<String> used = new java.util.HashSet<>();

    Flags(Map<String, String> values) {
      this.values = values;
    }

    boolean has(String name) {
      return values.containsKey(name);
    }

    String string(String name, String fallback) {
      used.add(name);
      return values.getOrDefault(name, fallback);
    }

    <T> T parse(String name, String text, java.util.function.Function<String, T> parser) {
      try {
        return parser.apply(text);
      } catch (RuntimeException e) {
        throw new IllegalArgumentException("--" + name + ": cannot read '" + text + "'", e);
      }
    }

    int integer(String name, int fallback) {
      return has(name) ? parse(name, string(name, null), Integer::parseInt) : fallback;
    }

    long longValue(String name, long fallback) {
      return has(name) ? parse(name, string(name, null), Long::parseLong) : fallback;
    }

    double decimal(String name, double fallback) {
      return has(name) ? parse(name, string(name, null), Double::parseDouble) : fallback;
    }

    Duration duration(String name, Duration fallback) {
      return has(name) ? parse(name, string(name, null), Duration::parse) : fallback;
    }

    void rejectUnused() {
      for (String name : values.keySet()) {
        if (!used.contains(name)) {
          throw new IllegalArgumentException("unknown flag --" + name + "\n" + usage());
        }
      }
    }
  }
}
