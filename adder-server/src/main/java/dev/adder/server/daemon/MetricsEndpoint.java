package dev.adder.server.daemon;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import dev.adder.server.ServerStats;
import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.OpenMetricsTextFormatWriter;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.function.ToDoubleFunction;

/**
 * The daemon's {@code /metrics}: the server's statistics, read from
 * {@link AdderServer#stats()} at each scrape, and the JVM's (memory, GC,
 * threads, ...) from the official Prometheus Java client's JVM
 * instrumentation, in the client's registry and text formats. The HTTP side
 * is the daemon's own, {@link ScrapeServer}, bounded against clients that
 * misbehave. Off unless {@code --metrics tcp:HOST:PORT} asks for it; the
 * library never needs it.
 *
 * <p>The format is chosen as the client's exporter chose it, so that what a
 * Prometheus server stores did not change with the HTTP server: OpenMetrics
 * when the {@code Accept} header asks for it (Prometheus does, and gets the
 * units as {@code # UNIT} lines), else the Prometheus text format 0.0.4
 * ({@code text/plain; version=0.0.4}: curl, promtool, older scrapers). The
 * exporter's protobuf format, its gzip and its {@code name[]} and
 * {@code debug} parameters are not offered: a query is ignored.
 */
final class MetricsEndpoint implements AutoCloseable {

    private final ScrapeServer http;

    private MetricsEndpoint(ScrapeServer http) {
        this.http = http;
    }

    /** Serves the metrics of {@code server} on {@code address} (TCP; port 0 picks one) until closed. */
    static MetricsEndpoint start(AdderAddress address, AdderServer server) throws IOException {
        return start(address, server, ScrapeLimits.DEFAULTS);
    }

    /** As {@link #start(AdderAddress, AdderServer)}, within {@code limits}: tests use short ones. */
    static MetricsEndpoint start(AdderAddress address, AdderServer server, ScrapeLimits limits)
            throws IOException {
        PrometheusRegistry registry = new PrometheusRegistry();
        counter(registry, "adder_connections_accepted", "Connections accepted and served", null, server,
                ServerStats::accepted);
        counter(registry, "adder_connections_refused", "Connections closed at once: the most were open, or the peer was not allowed", null,
                server, ServerStats::refused);
        counter(registry, "adder_requests", "Requests answered", null, server, ServerStats::requests);
        counter(registry, "adder_read_bytes", "Bytes read from clients", Unit.BYTES, server, ServerStats::bytesRead);
        counter(registry, "adder_written_bytes", "Bytes written to clients", Unit.BYTES, server,
                ServerStats::bytesWritten);
        counter(registry, "adder_loop_busy_seconds",
                "Time the event loop spent working rather than waiting; its rate is the share of a core it uses",
                Unit.SECONDS, server, stats -> stats.busyNanos() / 1e9);
        gauge(registry, "adder_connections_open", "Connections open now", null, server, ServerStats::openConnections);
        gauge(registry, "adder_pending_output_bytes", "Answers waiting now for clients that read slowly", Unit.BYTES,
                server, ServerStats::pendingOutput);
        gauge(registry, "adder_loop_busy_ratio", "Share of the last full 10 seconds the event loop spent working",
                Unit.RATIO, server, ServerStats::busyShare);
        gauge(registry, "adder_loop_longest_turn_seconds",
                "Longest the event loop worked between two waits over the last 10 to 20 seconds", Unit.SECONDS, server,
                stats -> stats.longestTurnNanos() / 1e9);
        GaugeWithCallback.builder().name("adder_loop_running").help("1 while the event loop serves, 0 once it has stopped or failed")
                .callback(callback -> callback.call(server.isRunning() ? 1 : 0)).register(registry);
        JvmMetrics.builder().register(registry);
        ExpositionFormatWriter text = PrometheusTextFormatWriter.create();
        ExpositionFormatWriter openMetrics = OpenMetricsTextFormatWriter.create();
        ScrapeServer.Scraper scraper = accept -> {
            ExpositionFormatWriter writer = openMetrics.accepts(accept) ? openMetrics : text;
            ByteArrayOutputStream body = new ByteArrayOutputStream(16 * 1024);
            writer.write(body, registry.scrape(), EscapingScheme.fromAcceptHeader(accept));
            return new ScrapeServer.Scrape(writer.getContentType(), body.toByteArray());
        };
        // one scrape in each format now, discarded: a class missing from the run (a Prometheus jar left out)
        // fails here, where Main reports it, rather than on the endpoint's thread at the first scrape
        scraper.scrape(null);
        scraper.scrape(OpenMetricsTextFormatWriter.CONTENT_TYPE);
        return new MetricsEndpoint(ScrapeServer.start(new InetSocketAddress(address.host(), address.port()), scraper,
                limits));
    }

    private static void counter(PrometheusRegistry registry, String name, String help, Unit unit, AdderServer server,
            ToDoubleFunction<ServerStats> figure) {
        CounterWithCallback.Builder builder = CounterWithCallback.builder().name(name).help(help)
                .callback(callback -> callback.call(figure.applyAsDouble(server.stats())));
        if (unit != null) {
            builder.unit(unit);
        }
        builder.register(registry);
    }

    private static void gauge(PrometheusRegistry registry, String name, String help, Unit unit, AdderServer server,
            ToDoubleFunction<ServerStats> figure) {
        GaugeWithCallback.Builder builder = GaugeWithCallback.builder().name(name).help(help)
                .callback(callback -> callback.call(figure.applyAsDouble(server.stats())));
        if (unit != null) {
            builder.unit(unit);
        }
        builder.register(registry);
    }

    /** The port it listens on: the one asked for, or the one picked for port 0. */
    int port() {
        return http.port();
    }

    /** Connections its HTTP side holds now. */
    int openConnections() {
        return http.openConnections();
    }

    /** Stops serving; returns once every connection, the listener and the endpoint's thread are gone. */
    @Override
    public void close() {
        http.close();
    }
}
