package dev.clickstream.pipeline.admin;

import dev.clickstream.pipeline.config.Settings;
import dev.clickstream.pipeline.io.ClickHouseSchema;
import dev.clickstream.pipeline.config.ClickHouseUrl;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * The few statements the pipeline runs outside ClickHouseIO (DDL at start, the live-schema check), over ClickHouse's
 * HTTP interface, which every server version has. The database need not exist yet, which a JDBC connection to it
 * would require. Not the official clients: against ClickHouse 18.16 their reads return no rows and no error
 * (docs/limits.md).
 */
public final class ClickHouseHttp {
  private final URI endpoint;
  private final @Nullable String authorization;
  private final HttpClient client;

  private ClickHouseHttp(URI endpoint, @Nullable String authorization, @Nullable String rootCertificate) {
    this.endpoint = endpoint;
    this.authorization = authorization;
    HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10));
    if (rootCertificate != null) {
      builder.sslContext(trusting(rootCertificate));
    }
    this.client = builder.build();
  }

  /**
   * TLS that trusts the certificate(s) of a PEM file: the driver's {@code sslrootcert} parameter, which the JDBC
   * writer uses too, so one URL makes both trust a private certificate authority or a self-signed server.
   */
  private static javax.net.ssl.SSLContext trusting(String pemFile) {
    try (java.io.InputStream in = java.nio.file.Files.newInputStream(java.nio.file.Path.of(pemFile))) {
      java.security.KeyStore trusted = java.security.KeyStore.getInstance(java.security.KeyStore.getDefaultType());
      trusted.load(null, null);
      int i = 0;
      for (java.security.cert.Certificate c
          : java.security.cert.CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        trusted.setCertificateEntry("ca-" + i++, c);
      }
      javax.net.ssl.TrustManagerFactory tmf =
          javax.net.ssl.TrustManagerFactory.getInstance(javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trusted);
      javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
      context.init(null, tmf.getTrustManagers(), null);
      return context;
    } catch (IOException | java.security.GeneralSecurityException e) {
      throw new IllegalArgumentException("--clickHouseUrl: cannot use sslrootcert=" + pemFile + ": " + e, e);
    }
  }

  /** The HTTP(S) endpoint of the settings' ClickHouse URL, with their credentials. */
  static ClickHouseHttp forSettings(Settings s) {
    String authorization = null;
    if (s.clickHouseUser() != null) {
      String credentials = s.clickHouseUser() + ":" + (s.clickHousePassword() == null ? "" : s.clickHousePassword());
      authorization = "Basic " + Base64.getEncoder().encodeToString(credentials.getBytes(StandardCharsets.UTF_8));
    }
    ClickHouseUrl url = s.clickHouse();
    return new ClickHouseHttp(URI.create(url.httpEndpoint()), authorization,
        url.https() ? url.parameters().get("sslrootcert") : null);
  }

  String execute(String sql) throws IOException, InterruptedException {
    HttpRequest.Builder request = HttpRequest.newBuilder(endpoint)
        .timeout(Duration.ofSeconds(30))
        .POST(HttpRequest.BodyPublishers.ofString(sql, StandardCharsets.UTF_8));
    if (authorization != null) {
      request.header("Authorization", authorization);
    }
    HttpResponse<String> response =
        client.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    if (response.statusCode() != 200) {
      throw new IOException("ClickHouse at " + endpoint + " answered " + response.statusCode() + " to '"
          + sql.lines().findFirst().orElse("") + "...': " + response.body().strip());
    }
    return response.body();
  }

  /** How a table is partitioned and sorted; null if it does not exist. Names are validated identifiers. */
  ClickHouseSchema.@Nullable Layout layout(Settings.TableName table) throws IOException, InterruptedException {
    String tsv = execute("SELECT partition_key, sorting_key FROM system.tables WHERE database = '" + table.database()
        + "' AND name = '" + table.table() + "' FORMAT TabSeparated");
    String line = tsv.lines().findFirst().orElse(null);
    if (line == null || line.isEmpty()) {
      return null;
    }
    String[] keys = line.split("\t", -1);
    return new ClickHouseSchema.Layout(keys[0], keys.length > 1 ? keys[1] : "");
  }

  /** The number of rows of a query that returns one number. */
  long count(String sql) throws IOException, InterruptedException {
    return Long.parseLong(execute(sql + " FORMAT TabSeparated").strip());
  }

  /** Column name to type of a table; empty if the table does not exist. Names are validated identifiers. */
  Map<String, String> columns(Settings.TableName table) throws IOException, InterruptedException {
    String tsv = execute("SELECT name, type FROM system.columns WHERE database = '" + table.database()
        + "' AND table = '" + table.table() + "' FORMAT TabSeparated");
    Map<String, String> columns = new LinkedHashMap<>();
    for (String line : tsv.split("\n")) {
      int tab = line.indexOf('\t');
      if (tab > 0) {
        columns.put(line.substring(0, tab), line.substring(tab + 1));
      }
    }
    return columns;
  }
}
