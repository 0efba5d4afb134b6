package dev.adder.micrometer;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.client.AdderClient;
import dev.adder.client.AdderException;
import dev.adder.client.AdderTimeoutException;
import dev.adder.client.FailureKind;
import dev.adder.server.AdderServer;
import dev.adder.testing.Transport;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The client's meters count its calls, their latency, failures by kind, replays and calls in flight. */
@Timeout(60)
class AdderClientMetricsTest {

    @TempDir
    Path dir;

    private static double calls(MeterRegistry registry, String outcome) {
        return registry.get("adder.client.calls").tag("outcome", outcome).timer().count();
    }

    private static double failures(MeterRegistry registry, FailureKind kind) {
        return registry.get("adder.client.failures").tag("kind", kind.name().toLowerCase()).counter().count();
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void everyCallIsCountedAndTimedInEveryRegistryBoundBeforeOrAfterTheConnect(Transport transport) throws Exception {
        try (AdderServer server = transport.startServer(dir)) {
            SimpleMeterRegistry before = new SimpleMeterRegistry();
            SimpleMeterRegistry after = new SimpleMeterRegistry();
            AdderClientMetrics metrics = new AdderClientMetrics(Tags.of("name", "test"));
            metrics.bindTo(before);
            assertTrue(before.getMeters().isEmpty(), "no meter before the client is known");
            try (AdderClient client = metrics.connect(AdderClient.builder(server.addresses().get(0)))) {
                metrics.bindTo(after);
                assertEquals(17, client.add(7, 10));
                assertEquals(3, client.addExact(1, 2));
                assertEquals(5L, client.addAsync(2, 3).join());
                client.addAll(new long[] {1, 2, 3}, new long[] {4, 5, 6});
                for (MeterRegistry registry : List.of(before, after)) {
                    await().until(() -> calls(registry, "success") == 4);
                    assertTrue(registry.get("adder.client.calls").tag("outcome", "success").timer()
                            .totalTime(TimeUnit.NANOSECONDS) > 0);
                    assertEquals(0, calls(registry, "failure"));
                    for (FailureKind kind : FailureKind.values()) {
                        assertEquals(0, failures(registry, kind), kind.name());
                    }
                    assertEquals(0, registry.get("adder.client.replays").functionCounter().count());
                    assertEquals(0, registry.get("adder.client.calls.in.flight").gauge().value());
                    for (Meter meter : registry.getMeters()) {
                        assertTrue(meter.getId().getName().startsWith("adder.client."), meter.getId().getName());
                        assertEquals(client.address().toString(), meter.getId().getTag("address"));
                        assertEquals("test", meter.getId().getTag("name"));
                    }
                }
                assertThrows(IllegalStateException.class, () -> metrics.connect(AdderClient.builder(client.address())));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aTimeoutIsCountedAsOneWithItsLatency(Transport transport) throws Exception {
        try (Peer peer = Peer.silent(transport, dir)) {
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            AdderClientMetrics metrics = new AdderClientMetrics();
            metrics.bindTo(registry);
            try (AdderClient client = metrics.connect(AdderClient.builder(peer.address())
                    .callTimeout(Duration.ofMillis(100)))) {
                AdderTimeoutException e = assertThrows(AdderTimeoutException.class, () -> client.add(1, 2));
                assertEquals(FailureKind.TIMEOUT, e.kind());
                assertEquals(1, failures(registry, FailureKind.TIMEOUT));
                assertEquals(1, calls(registry, "failure"));
                assertEquals(0, calls(registry, "success"));
                // it failed at its deadline, no sooner
                assertTrue(registry.get("adder.client.calls").tag("outcome", "failure").timer()
                        .totalTime(TimeUnit.MILLISECONDS) >= 100);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void callsInFlightAreSeenAndTheirFailureOnCloseIsCountedAsClosed(Transport transport) throws Exception {
        try (Peer peer = Peer.silent(transport, dir)) {
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            AdderClientMetrics metrics = new AdderClientMetrics();
            metrics.bindTo(registry);
            AdderClient client = metrics.connect(AdderClient.builder(peer.address()));
            List<CompletableFuture<Long>> pending = List.of(client.addAsync(1, 1), client.addAsync(2, 2), client.addAsync(3, 3));
            await().until(() -> registry.get("adder.client.calls.in.flight").gauge().value() == 3);
            client.close();
            for (CompletableFuture<Long> future : pending) {
                CompletionException e = assertThrows(CompletionException.class, future::join);
                assertEquals(FailureKind.CLOSED, ((AdderException) e.getCause()).kind());
            }
            await().until(() -> failures(registry, FailureKind.CLOSED) == 3);
            assertEquals(3, calls(registry, "failure"));
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void anInterruptedCallIsCountedAsInterrupted(Transport transport) throws Exception {
        try (Peer peer = Peer.silent(transport, dir)) {
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            AdderClientMetrics metrics = new AdderClientMetrics();
            metrics.bindTo(registry);
            try (AdderClient client = metrics.connect(AdderClient.builder(peer.address()))) {
                Thread.currentThread().interrupt();
                AdderException e;
                try {
                    e = assertThrows(AdderException.class, () -> client.add(1, 2));
                } finally {
                    Thread.interrupted();
                }
                assertEquals(FailureKind.INTERRUPTED, e.kind());
                assertEquals(1, failures(registry, FailureKind.INTERRUPTED));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aReplayIsCounted(Transport transport) throws Exception {
        try (Peer peer = Peer.dropsFirst(transport, dir)) {
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            AdderClientMetrics metrics = new AdderClientMetrics();
            metrics.bindTo(registry);
            try (AdderClient client = metrics.connect(AdderClient.builder(peer.address()))) {
                assertEquals(5, client.add(2, 3));
                assertEquals(1, registry.get("adder.client.replays").functionCounter().count());
                assertEquals(1, calls(registry, "success"));
                assertEquals(0, calls(registry, "failure"));
            }
        }
    }

    @Test
    void aClientThatCannotConnectIsNotServed() {
        AdderClientMetrics metrics = new AdderClientMetrics();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        metrics.bindTo(registry);
        AdderException e = assertThrows(AdderException.class,
                () -> metrics.connect(AdderClient.builder("unix:" + dir.resolve("nobody.sock"))));
        assertEquals(FailureKind.CONNECT, e.kind());
        assertTrue(registry.getMeters().isEmpty());
    }
}
