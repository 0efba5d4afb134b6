package dev.adder.server.daemon;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import dev.adder.server.ServerStats;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import java.io.IOException;
import java.util.function.ToDoubleFunction;

/**
 * The daemon's {@code /metrics}, in the Prometheus text format, served with
 * the official Prometheus Java client: the server's statistics, read from
 * {@link AdderServer#stats()} at each scrape, and the JVM's (memory, GC,
 * threads, ...) from the client's JVM instrumentation. Off unless
 * {@code --metrics tcp:HOST:PORT} asks for it; the library never needs it.
 */
final class MetricsEndpoint implements AutoCloseable {

    private final HTTPServer http;

    private MetricsEndpoint(HTTPServer http) {
        this.http = http;
    }

    /** Serves the metrics of {@code server} on {@code address} (TCP; port 0 picks one) until closed. */
    static MetricsEndpoint start(AdderAddress address, AdderServer server) throws IOException {
        PrometheusRegistry registry = new PrometheusRegistry();
        counter(registry, "adder_connections_accepted", "Connections accepted and served", null, server,
                ServerStats::accepted);
        counter(registry, "adder_connections_refused", "Connections closed at once because the most were open", null,
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
        HTTPServer http = HTTPServer.builder().hostname(address.host()).port(address.port()).registry(registry)
                .buildAndStart();
        return new MetricsEndpoint(http);
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
        return http.getPort();
    }

    @Override
    public void close() {
        http.close();
    }
}
