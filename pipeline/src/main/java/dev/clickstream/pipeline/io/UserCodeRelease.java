package dev.clickstream.pipeline.io;

import java.sql.Driver;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Collections;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a job must give back when it ends in a JVM that outlives it: a Flink TaskManager loads each job's jar in its
 * own class loader and can only unload it once nothing outside the job refers to it.
 *
 * <p>clickhouse-jdbc registers its driver with {@link DriverManager} when the driver class is first used (ClickHouseIO
 * does, through its data source). DriverManager belongs to the JDK and lives forever, so it kept every finished job's
 * class loader and its classes, tens of MB of metaspace per job, until the TaskManager dies with {@code
 * OutOfMemoryError: Metaspace} after a few jobs (a heap dump shows the path
 * {@code DriverManager.registeredDrivers -> DriverInfo -> ClickHouseDriver}). Nothing in the pipeline looks drivers up
 * through DriverManager (ClickHouseIO's data source creates its driver itself), so a job deregisters the drivers of
 * its own class loader when its ClickHouse step is torn down.
 *
 * <p>clickhouse-jdbc also starts a thread pool of its own ({@code ClickHouseWorker-n}) the first time a job writes,
 * held in a static field of the job's class loader, whose threads wait forever for work: each finished job left two
 * of them, and they kept its class loader (one more live user-code class loader per bounded job with data, about 34
 * MB of metaspace each). The pool is shared by the job's writers in that JVM, so it is not shut down; its idle
 * threads are made to end instead ({@link #releaseClickHouseWorkers}).
 *
 * <p>And KafkaIO's splittable reader leaves its consumers open, whose JMX beans keep the class loader
 * ({@link TrackedConsumers}).
 */
public final class UserCodeRelease {
  private static final Logger LOG = LoggerFactory.getLogger(UserCodeRelease.class);

  private UserCodeRelease() {}

  /**
   * Gives back what the job of {@code loader} holds outside itself: its JDBC drivers, clickhouse-jdbc's idle threads,
   * the Kafka consumers KafkaIO left open. Does nothing where the pipeline's classes come from the JVM's own class path
   * (DirectRunner, {@code [local]}): that loader lives as long as the JVM anyway, and a read may still run there.
   */
  public static void release(ClassLoader loader) {
    if (loader == ClassLoader.getSystemClassLoader() || loader == ClassLoader.getPlatformClassLoader()) {
      return;
    }
    releaseJdbcDrivers(loader);
    releaseClickHouseWorkers(loader);
    releaseKafkaConsumers();
  }

  /**
   * Closes the consumers KafkaIO's splittable reader left open ({@link TrackedConsumers}). Called as the ClickHouse
   * write ends, which in a bounded job on Flink is after every read: the write follows the count, whose shuffle takes
   * all the reads' records first.
   */
  private static void releaseKafkaConsumers() {
    int closed = TrackedConsumers.closeAll();
    if (closed > 0) {
      LOG.debug("closed {} Kafka consumers of the ending job", closed);
    }
  }

  /** Holders of clickhouse-jdbc's own thread pools, with the names of their static fields. */
  private static final String CLICKHOUSE_EXECUTORS = "com.clickhouse.data.ClickHouseDataStreamFactory$DefaultExecutors";

  /**
   * Lets the idle threads of clickhouse-jdbc's shared pools (of {@code loader}'s copy of it) end after a second; the
   * pools stay usable, and start threads again when given work.
   */
  private static void releaseClickHouseWorkers(ClassLoader loader) {
    try {
      Class<?> holder = Class.forName(CLICKHOUSE_EXECUTORS, true, loader);
      for (String name : new String[] {"executor", "scheduler"}) {
        java.lang.reflect.Field field = holder.getDeclaredField(name);
        field.setAccessible(true);
        if (field.get(null) instanceof java.util.concurrent.ThreadPoolExecutor pool) {
          pool.setKeepAliveTime(1, java.util.concurrent.TimeUnit.SECONDS);
          pool.allowCoreThreadTimeOut(true);
        }
      }
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      LOG.warn("could not let clickhouse-jdbc's idle threads end ({}): the TaskManager may keep this job's classes",
          e.toString());
    }
  }

  /** Deregisters the JDBC drivers that {@code loader} loaded. */
  private static void releaseJdbcDrivers(ClassLoader loader) {
    for (Driver driver : Collections.list(DriverManager.getDrivers())) {
      if (driver.getClass().getClassLoader() == loader) {
        try {
          DriverManager.deregisterDriver(driver);
          LOG.debug("deregistered JDBC driver {} of the ending job", driver.getClass().getName());
        } catch (SQLException | SecurityException e) {
          LOG.warn("could not deregister JDBC driver {}: {}", driver.getClass().getName(), e.toString());
        }
      }
    }
  }
}
