package dev.clickstream.pipeline.model;

/** One parsed click. {@code userId} is -1 when the event carried none. */
public record Click(long productId, long userId, long eventTimeMillis) {}
