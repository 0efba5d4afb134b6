package dev.adder.micrometer;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import dev.adder.server.ServerStats;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import java.util.stream.Collectors;

/**
 * An {@link AdderServer}'s statistics as Micrometer meters, read from
 * {@link AdderServer#stats()} whenever the registry looks: the figures the
 * daemon's {@code /metrics} serves, under Micrometer's names.
 *
 * <table>
 * <caption>The meters</caption>
 * <tr><th>name</th><th>type</th><th>what</th></tr>
 * <tr><td>{@code adder.server.requests}</td><td>function counter</td><td>requests answered</td></tr>
 * <tr><td>{@code adder.server.connections.accepted}</td><td>function counter</td><td>connections accepted and served</td></tr>
 * <tr><td>{@code adder.server.connections.refused}</td><td>function counter</td><td>connections closed at once:
 *     the most were open, or the peer was not allowed</td></tr>
 * <tr><td>{@code adder.server.connections.open}</td><td>gauge</td><td>connections open now</td></tr>
 * <tr><td>{@code adder.server.bytes.read}, {@code adder.server.bytes.written}</td><td>function counters,
 *     bytes</td><td>traffic from and to clients</td></tr>
 * <tr><td>{@code adder.server.pending.output}</td><td>gauge, bytes</td><td>answers waiting now for clients
 *     that read slowly</td></tr>
 * <tr><td>{@code adder.server.loop.busy}</td><td>function counter, seconds</td><td>time the event loops spent
 *     working rather than waiting: its rate is the share of a core they use</td></tr>
 * <tr><td>{@code adder.server.loop.busy.share}</td><td>gauge, 0 to 1</td><td>share of the last full
 *     10 seconds the loops spent working (their mean)</td></tr>
 * <tr><td>{@code adder.server.loop.longest.turn}</td><td>time gauge</td><td>longest a loop worked between two
 *     waits over the last 10 to 20 seconds</td></tr>
 * <tr><td>{@code adder.server.running}</td><td>gauge</td><td>1 while the loops serve, 0 once stopped or failed</td></tr>
 * </table>
 *
 * <p>Every meter carries the tag {@code address}: the addresses the server
 * listens on, with the real port of a port 0, joined by commas; and the tags
 * given to the constructor. Bind it once the server is started.
 */
public final class AdderServerMetrics implements MeterBinder {

    private final AdderServer server;
    private final Iterable<Tag> tags;

    /**
     * The meters of {@code server}, tagged with its addresses.
     *
     * @param server the server, started before {@link #bindTo}
     */
    public AdderServerMetrics(AdderServer server) {
        this(server, Tags.empty());
    }

    /**
     * The meters of {@code server}, tagged with its addresses and {@code tags}.
     *
     * @param server the server, started before {@link #bindTo}
     * @param tags   more tags for every meter (a name, say, for several servers in one application)
     */
    public AdderServerMetrics(AdderServer server, Iterable<Tag> tags) {
        this.server = Objects.requireNonNull(server, "server");
        this.tags = Objects.requireNonNull(tags, "tags");
    }

    /**
     * Registers the meters in {@code registry}.
     *
     * @throws IllegalStateException if the server was not started: its addresses, and so the tag, are not known yet
     */
    @Override
    public void bindTo(MeterRegistry registry) {
        if (server.addresses().isEmpty()) {
            throw new IllegalStateException("bind the metrics of an adder server once it is started: its addresses"
                    + " (the meters' tag) are not known before");
        }
        Tags all = Tags.of(tags).and("address",
                server.addresses().stream().map(AdderAddress::toString).collect(Collectors.joining(",")));
        counter(registry, all, "adder.server.requests", "Requests answered", null, ServerStats::requests);
        counter(registry, all, "adder.server.connections.accepted", "Connections accepted and served", null,
                ServerStats::accepted);
        counter(registry, all, "adder.server.connections.refused",
                "Connections closed at once: the most were open, or the peer was not allowed", null, ServerStats::refused);
        counter(registry, all, "adder.server.bytes.read", "Bytes read from clients", BaseUnits.BYTES,
                ServerStats::bytesRead);
        counter(registry, all, "adder.server.bytes.written", "Bytes written to clients", BaseUnits.BYTES,
                ServerStats::bytesWritten);
        counter(registry, all, "adder.server.loop.busy",
                "Time the event loops spent working rather than waiting; its rate is the share of a core they use",
                "seconds", stats -> stats.busyNanos() / 1e9);
        gauge(registry, all, "adder.server.connections.open", "Connections open now", null,
                ServerStats::openConnections);
        gauge(registry, all, "adder.server.pending.output", "Answers waiting now for clients that read slowly",
                BaseUnits.BYTES, ServerStats::pendingOutput);
        gauge(registry, all, "adder.server.loop.busy.share",
                "Share of the last full 10 seconds the event loops spent working, from 0 to 1", null,
                ServerStats::busyShare);
        TimeGauge.builder("adder.server.loop.longest.turn", server, TimeUnit.NANOSECONDS,
                        s -> s.stats().longestTurnNanos())
                .description("Longest an event loop worked between two waits over the last 10 to 20 seconds")
                .tags(all).register(registry);
        Gauge.builder("adder.server.running", server, s -> s.isRunning() ? 1 : 0)
                .description("1 while the event loops serve, 0 once they have stopped or failed")
                .tags(all).register(registry);
    }

    private void counter(MeterRegistry registry, Tags all, String name, String description, String unit,
            ToDoubleFunction<ServerStats> figure) {
        FunctionCounter.builder(name, server, s -> figure.applyAsDouble(s.stats()))
                .description(description).baseUnit(unit).tags(all).register(registry);
    }

    private void gauge(MeterRegistry registry, Tags all, String name, String description, String unit,
            ToDoubleFunction<ServerStats> figure) {
        Gauge.builder(name, server, s -> figure.applyAsDouble(s.stats()))
                .description(description).baseUnit(unit).tags(all).register(registry);
    }
}
