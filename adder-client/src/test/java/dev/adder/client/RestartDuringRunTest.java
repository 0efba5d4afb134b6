package dev.adder.client;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import dev.adder.testing.Transport;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Clients calling while their server is stopped and started again at the same
 * address: every call returns the right sum or throws a clear error, never a
 * wrong number, and calls succeed again after the restart; with replay on, no
 * call fails at all.
 */
@Timeout(120)
class RestartDuringRunTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({"UNIX, true", "TCP, true", "UNIX, false", "TCP, false"})
    void everyCallIsRightOrAClearErrorAcrossRestarts(Transport transport, boolean replay) throws Exception {
        int threads = 8;
        AdderServer first = transport.startServer(dir);
        AdderAddress address = first.addresses().get(0);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong right = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        AtomicLong wrong = new AtomicLong();
        List<String> unclear = java.util.Collections.synchronizedList(new ArrayList<>());
        List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        List<AdderServer> servers = new ArrayList<>(List.of(first));
        try (AdderClient shared = AdderClient.builder(address).connectTimeout(Duration.ofSeconds(1))
                .callTimeout(Duration.ofSeconds(5)).replay(replay).connect()) {
            List<Future<?>> callers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                long seed = t;
                // half the threads share one client, half have their own
                boolean own = t % 2 == 1;
                callers.add(pool.submit(() -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    AdderClient client = own ? AdderClient.builder(address).connectTimeout(Duration.ofSeconds(1))
                            .callTimeout(Duration.ofSeconds(5)).replay(replay).connect() : shared;
                    try {
                        while (!stop.get()) {
                            long x = random.nextLong();
                            long y = random.nextLong();
                            try {
                                if (client.add(x, y) == x + y) {
                                    right.incrementAndGet();
                                } else {
                                    wrong.incrementAndGet();
                                }
                            } catch (AdderException e) {
                                if (failed.incrementAndGet() <= 5) {
                                    failures.add(e.toString() + (e.getCause() == null ? "" : " <- " + e.getCause()));
                                }
                                if (!e.getMessage().contains(address.toString())) {
                                    unclear.add(e.getMessage());
                                }
                            }
                        }
                    } finally {
                        if (own) {
                            client.close();
                        }
                    }
                    return null;
                }));
            }
            for (int restart = 0; restart < 3; restart++) {
                long before = right.get();
                await().until(() -> right.get() > before + 2_000);
                servers.get(servers.size() - 1).close();
                AdderServer next = AdderServer.builder().listen(address).build();
                next.start();
                servers.add(next);
            }
            long afterLastRestart = right.get();
            await().until(() -> right.get() > afterLastRestart + 2_000);
            stop.set(true);
            for (Future<?> caller : callers) {
                caller.get();
            }
        } finally {
            stop.set(true);
            pool.shutdownNow();
            for (AdderServer server : servers) {
                server.close();
            }
        }
        assertEquals(0, wrong.get(), "a call returned a wrong sum");
        if (replay) {
            // a graceful close answers what it read; what it did not read is sent again to the next server
            assertEquals(0, failed.get(), "calls failed with replay on: " + failures);
        }
        assertEquals(List.of(), unclear, "errors that do not name the address");
        long answeredByServers = servers.stream().mapToLong(s -> s.stats().requests()).sum();
        assertTrue(right.get() <= answeredByServers, right + " right answers but servers answered " + answeredByServers);
        System.out.println("restart run (replay " + (replay ? "on" : "off") + "): " + right + " right, " + failed
                + " failed with a clear error, 0 wrong");
    }
}
