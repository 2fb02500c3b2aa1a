package dev.clickstream.pipeline.config;

/**
 * The pipeline will not start, and starting it again would not help: the ClickHouse table does not fit the rows,
 * or it is missing and may not be created. Unlike a service that is down, this needs a person.
 */
public final class StartupRefusedException extends IllegalStateException {
  public StartupRefusedException(String message) {
    super(message);
  }
}
