package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

@Timeout(120)
class ConnectionLimitsTest {

    /** Most answers one read can produce: the server's whole read buffer of requests. */
    private static final int ONE_BATCH_OF_ANSWERS = (256 * 1024 / 16 + 1) * 8;

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Transport.class)
    void clientThatNeverReadsStopsBeingReadAndOthersAreStillServed(Transport transport) throws Exception {
        int maxPending = 64 * 1024;
        // far more answers than the kernel's buffers hide on either socket kind
        int requests = 4096 * 1000;
        ExecutorService writer = Executors.newSingleThreadExecutor();
        try (AdderServer server = AdderServer.builder().listen(transport.listenAddress(dir))
                .maxPendingOutput(maxPending).build()) {
            server.start();
            AdderAddress address = server.addresses().get(0);
            try (RawClient flooder = RawClient.connect(address)) {
                AtomicLong sent = new AtomicLong();
                Future<?> flood = writer.submit(() -> {
                    ByteBuffer batch = ByteBuffer.allocate(4096 * Protocol.REQUEST_BYTES);
                    for (int i = 0; i < requests; i += 4096) {
                        batch.clear();
                        for (int j = i; j < i + 4096; j++) {
                            Protocol.encodeRequest(batch, j, 1);
                        }
                        batch.flip();
                        while (batch.hasRemaining()) {
                            sent.addAndGet(flooder.channel.write(batch));
                        }
                    }
                    return null;
                });

                // the server holds a full limit of answers for it, and has stopped reading it
                await().atMost(Duration.ofSeconds(30)).until(() -> server.stats().pendingOutput() >= maxPending);
                long readWhenPaused = server.stats().bytesRead();
                assertTrue(server.stats().pendingOutput() <= maxPending + ONE_BATCH_OF_ANSWERS,
                        "pending output " + server.stats().pendingOutput() + " passed the limit");
                assertFalse(flood.isDone(), "the flooding client could send everything: nothing held it back");

                // meanwhile another client is served at once
                try (RawClient other = RawClient.connect(address)) {
                    assertEquals(17, other.add(7, 10));
                }
                assertTrue(server.stats().bytesRead() - readWhenPaused <= Protocol.REQUEST_BYTES,
                        "the server went on reading the client that does not read");

                // once the client reads, the server resumes, and every answer is right
                AtomicLong answered = new AtomicLong();
                flooder.read(requests, answer -> {
                    long i = answered.getAndIncrement();
                    if (answer != i + 1) {
                        assertEquals(i + 1, answer, "answer " + i);
                    }
                });
                flood.get();
                assertEquals((long) requests * Protocol.REQUEST_BYTES, sent.get());
                // the server counts its held answers as gone just after the write that sent the last of them
                await().atMost(Duration.ofSeconds(30)).until(() -> server.stats().pendingOutput() == 0);
            }
        } finally {
            writer.shutdownNow();
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void halfCloseGetsEveryCompleteRequestAnsweredThenTheServerCloses(Transport transport) throws IOException {
        try (AdderServer server = AdderServer.builder().listen(transport.listenAddress(dir)).build()) {
            server.start();
            try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                long[] xs = new long[1000];
                long[] ys = new long[1000];
                for (int i = 0; i < xs.length; i++) {
                    xs[i] = i;
                    ys[i] = i;
                }
                client.write(RawClient.requests(xs, ys));
                client.write(new byte[] {1, 2, 3, 4, 5}); // an unfinished request: dropped
                client.channel.shutdownOutput();
                for (int i = 0; i < xs.length; i++) {
                    assertEquals(2L * i, client.read());
                }
                assertTrue(client.readsEndOfStream());
            }
            await().until(() -> server.stats().openConnections() == 0);
            assertEquals(1000, server.stats().requests());
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void clientResetMidRequestClosesOnlyThatConnection(Transport transport) throws IOException {
        try (AdderServer server = AdderServer.builder().listen(transport.listenAddress(dir)).build()) {
            server.start();
            AdderAddress address = server.addresses().get(0);
            try (RawClient bystander = RawClient.connect(address)) {
                assertEquals(3, bystander.add(1, 2));
                RawClient resetter = RawClient.connect(address);
                resetter.write(new byte[7]);
                if (transport == Transport.TCP) {
                    resetter.channel.setOption(StandardSocketOptions.SO_LINGER, 0); // close sends RST
                }
                resetter.close();
                await().until(() -> server.stats().openConnections() == 1);
                assertEquals(30, bystander.add(10, 20));
                assertTrue(server.isRunning());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void idleConnectionIsClosedAfterTheIdleTimeout(Transport transport) throws IOException {
        try (AdderServer server = AdderServer.builder().listen(transport.listenAddress(dir))
                .idleTimeout(Duration.ofMillis(300)).build()) {
            server.start();
            try (RawClient idle = RawClient.connect(server.addresses().get(0))) {
                assertEquals(2, idle.add(1, 1));
                // blocks until the server closes the connection
                assertTrue(idle.readsEndOfStream());
                await().until(() -> server.stats().openConnections() == 0);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void connectionOverTheMaximumIsRefusedAndCounted(Transport transport) throws IOException {
        try (AdderServer server = AdderServer.builder().listen(transport.listenAddress(dir))
                .maxConnections(2).build()) {
            server.start();
            AdderAddress address = server.addresses().get(0);
            try (RawClient first = RawClient.connect(address);
                 RawClient second = RawClient.connect(address)) {
                await().until(() -> server.stats().openConnections() == 2);
                try (RawClient third = RawClient.connect(address)) {
                    assertTrue(third.readsEndOfStream());
                }
                await().until(() -> server.stats().refused() == 1);
                assertEquals(2, server.stats().accepted());
                assertEquals(3, first.add(1, 2));
                assertEquals(7, second.add(3, 4));
            }
            // once they are gone, a new client gets in
            await().until(() -> server.stats().openConnections() == 0);
            try (RawClient later = RawClient.connect(address)) {
                assertEquals(17, later.add(7, 10));
            }
        }
    }
}
