package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.TransportWithTls;
import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Misbehaving clients of every kind beside well-behaved, checked ones: the
 * checked ones all finish right, the server closes every connection in the
 * end, and its statistics add up.
 */
@Timeout(120)
class AbuseTest {

    private static final int CHECKED_CLIENTS = 16;
    private static final int CHECKED_REQUESTS = 3_000;

    @TempDir
    Path dir;

    /**
     * The kinds of abuse, each run over and over by an abuser thread at a pace
     * the checked clients set: each of them lets every abuser abuse once more
     * per {@code checkedCallsPerAbuse} of its calls, so a run holds thousands
     * of abuses of each kind beside the checked calls, on any machine (an
     * abuser slower than its pace just goes on). Unpaced, the abuse is all the
     * machine can make, and the run as long as the checked calls then take: on
     * a Unix socket, whose connect waits for room in the backlog and never for
     * the server, abusers that connect and go keep the backlog full, every
     * turn of one loop accepts as many as a turn may, and each checked call
     * waits out such a turn (the run took six to eight times as long as on TCP).
     */
    private enum Abuse {
        RESET_AT_ONCE(16), RESET_MID_REQUEST(16), HALF_CLOSE_MID_REQUEST(16), ONE_BYTE_THEN_SILENT(16),
        OPEN_AND_NEVER_SEND(16),
        /** A flood is what the kernel's buffers take, megabytes on TCP: the loop's work for 100,000s of calls. */
        SEND_AND_NEVER_READ(256);

        final int checkedCallsPerAbuse;

        Abuse(int checkedCallsPerAbuse) {
            this.checkedCallsPerAbuse = checkedCallsPerAbuse;
        }
    }

    @ParameterizedTest(name = "{0}, {1} loops")
    @CsvSource({"UNIX, 1", "TCP, 1", "TLS, 1", "UNIX, 4", "TCP, 4", "TLS, 4"})
    void checkedClientsFinishRightWhileOthersMisbehave(TransportWithTls transport, int loops) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(CHECKED_CLIENTS + Abuse.values().length);
        AtomicBoolean checkedDone = new AtomicBoolean();
        AtomicLong abusiveConnections = new AtomicLong();
        AtomicLong resetsAtOnce = new AtomicLong();
        List<RawClient> lingering = java.util.Collections.synchronizedList(new ArrayList<>());
        try (AdderServer server = transport.builder(dir).loops(loops)
                .idleTimeout(Duration.ofSeconds(2)).maxPendingOutput(64 * 1024).build()) {
            server.start();
            AdderAddress address = server.addresses().get(0);

            // under TLS each abuse costs a handshake on both sides: a quarter as many keep the run as short
            int paceFactor = transport == TransportWithTls.TLS ? 4 : 1;
            Map<Abuse, Semaphore> paces = new EnumMap<>(Abuse.class);
            List<Future<?>> abusers = new ArrayList<>();
            for (Abuse abuse : Abuse.values()) {
                Semaphore pace = new Semaphore(0);
                paces.put(abuse, pace);
                abusers.add(pool.submit(() -> {
                    while (!checkedDone.get()) {
                        abuse(abuse, address, lingering);
                        abusiveConnections.incrementAndGet();
                        if (abuse == Abuse.RESET_AT_ONCE) {
                            resetsAtOnce.incrementAndGet();
                        }
                        pace.acquire();
                    }
                    return null;
                }));
            }
            List<Future<Long>> checked = new ArrayList<>();
            for (int c = 0; c < CHECKED_CLIENTS; c++) {
                long seed = c;
                checked.add(pool.submit(() -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    long right = 0;
                    try (RawClient client = RawClient.connect(address)) {
                        for (int i = 0; i < CHECKED_REQUESTS; i++) {
                            for (Abuse abuse : Abuse.values()) {
                                if (i % (abuse.checkedCallsPerAbuse * paceFactor) == 0) {
                                    paces.get(abuse).release();
                                }
                            }
                            long x = random.nextLong();
                            long y = random.nextLong();
                            if (client.add(x, y) == x + y) {
                                right++;
                            }
                        }
                    }
                    return right;
                }));
            }
            for (Future<Long> client : checked) {
                assertEquals(CHECKED_REQUESTS, client.get());
            }
            checkedDone.set(true);
            paces.values().forEach(Semaphore::release); // an abuser waiting for its pace sees that the run is over
            for (Future<?> abuser : abusers) {
                abuser.get();
            }
            assertTrue(abusiveConnections.get() >= Abuse.values().length, "the abusers did not run");

            // the silent and the never-reading ones are closed by the server's idle timeout
            await().atMost(Duration.ofSeconds(30)).until(() -> server.stats().openConnections() == 0);
            for (RawClient client : lingering) {
                client.close();
            }
            ServerStats stats = server.stats();
            // a connection reset before the server accepts it may never reach accept()
            long connections = CHECKED_CLIENTS + abusiveConnections.get();
            assertTrue(stats.accepted() <= connections && stats.accepted() >= connections - resetsAtOnce.get(),
                    stats + " for " + connections + " connections, " + resetsAtOnce + " reset at once");
            assertEquals(0, stats.refused());
            assertEquals(0, stats.pendingOutput());
            assertTrue(stats.requests() >= (long) CHECKED_CLIENTS * CHECKED_REQUESTS);
            assertTrue(stats.bytesRead() >= stats.requests() * Protocol.REQUEST_BYTES);
            assertTrue(stats.bytesWritten() <= stats.requests() * Protocol.RESPONSE_BYTES);
            assertTrue(server.isRunning());
        } finally {
            checkedDone.set(true);
            pool.shutdownNow();
        }
    }

    private static void abuse(Abuse abuse, AdderAddress address, List<RawClient> lingering) throws IOException {
        RawClient client = RawClient.connect(address);
        boolean tcp = !address.isUnix();
        switch (abuse) {
            case RESET_AT_ONCE -> reset(client, tcp);
            case RESET_MID_REQUEST -> {
                client.write(RawClient.request(1, 2));
                client.write(new byte[] {1, 2, 3, 4, 5});
                reset(client, tcp);
            }
            case HALF_CLOSE_MID_REQUEST -> {
                client.write(RawClient.request(20, 22));
                client.write(new byte[] {9, 9, 9});
                client.channel.shutdownOutput();
                assertEquals(42, client.read());
                assertTrue(client.readsEndOfStream());
                client.close();
            }
            case ONE_BYTE_THEN_SILENT -> {
                client.write(new byte[] {7});
                lingering.add(client);
            }
            case OPEN_AND_NEVER_SEND -> lingering.add(client);
            case SEND_AND_NEVER_READ -> {
                // far more than the kernel buffers and the server's limit hold, written without blocking
                client.channel.configureBlocking(false);
                ByteBuffer flood = ByteBuffer.allocate(64 * 1024);
                for (int i = 0; i < 4096; i++) {
                    Protocol.encodeRequest(flood, i, i);
                }
                for (int round = 0; round < 512; round++) {
                    flood.clear();
                    if (client.channel.write(flood) == 0) {
                        break;
                    }
                }
                lingering.add(client);
            }
            default -> throw new IllegalStateException(abuse.toString());
        }
        if (lingering.size() > 64) {
            // keep the lingering ones bounded: the oldest go, as a client would give up
            RawClient oldest = lingering.remove(0);
            oldest.close();
        }
    }

    private static void reset(RawClient client, boolean tcp) throws IOException {
        if (tcp) {
            client.channel.setOption(StandardSocketOptions.SO_LINGER, 0); // close sends RST
        }
        client.close();
    }
}
