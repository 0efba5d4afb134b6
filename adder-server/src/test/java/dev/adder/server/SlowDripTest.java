package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.testing.TransportWithTls;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Clients that send one byte at a time, with pauses: served right, and held only up to the idle timeout. */
@Timeout(120)
class SlowDripTest {

    private static final Duration IDLE_TIMEOUT = Duration.ofMillis(800);
    /** The drip's pace: well inside the idle timeout, so a dripping client is never idle. */
    private static final long PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(3);

    @TempDir
    Path dir;

    /** Paces the client's sending; this is the behaviour under test, not a wait for a condition. */
    private static void pause() {
        LockSupport.parkNanos(PAUSE_NANOS);
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void drippingClientsAreAnsweredAndDroppedOnlyAfterTheyStop(TransportWithTls transport) throws Exception {
        int clients = 20;
        int requests = 4;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        try (AdderServer server = transport.builder(dir)
                .idleTimeout(IDLE_TIMEOUT).build()) {
            server.start();
            AdderAddress address = server.addresses().get(0);
            List<Future<Boolean>> results = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                long id = c;
                results.add(pool.submit(() -> {
                    try (RawClient client = RawClient.connect(address)) {
                        for (long i = 0; i < requests; i++) {
                            byte[] request = RawClient.request(id * 1000 + i, -id);
                            for (int b = 0; b < request.length; b++) {
                                client.write(request, b, 1);
                                pause();
                            }
                            assertEquals(i + id * 1000 - id, client.read());
                        }
                        // three bytes of a request, then the client stops: it is held only until the idle timeout
                        byte[] unfinished = RawClient.request(1, 1);
                        for (int b = 0; b < 3; b++) {
                            client.write(unfinished, b, 1);
                            pause();
                        }
                        long stoppedAt = System.nanoTime();
                        boolean closed = client.readsEndOfStream(); // blocks until the server closes it
                        return closed && System.nanoTime() - stoppedAt >= IDLE_TIMEOUT.toNanos() / 2;
                    }
                }));
            }
            for (Future<Boolean> result : results) {
                assertTrue(result.get(), "a stopped client was not closed by the idle timeout, or closed early");
            }
            assertEquals((long) clients * requests, server.stats().requests());
            await().until(() -> server.stats().openConnections() == 0);
        } finally {
            pool.shutdownNow();
        }
    }
}
