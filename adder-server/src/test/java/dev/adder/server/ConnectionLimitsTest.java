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
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;
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
    @EnumSource(TransportWithTls.class)
    void clientThatNeverReadsStopsBeingReadAndOthersAreStillServed(TransportWithTls transport) throws Exception {
        int maxPending = 64 * 1024;
        try (AdderServer server = transport.builder(dir)
                .maxPendingOutput(maxPending).build()) {
            server.start();
            AdderAddress address = server.addresses().get(0);
            try (RawClient flooder = RawClient.connect(address)) {
                Flood flood = new Flood(flooder.channel);

                // the server holds a full limit of answers for it, and has stopped reading it
                // (polled often: each look sends only what the socket takes, some 200 KiB on a Unix socket)
                await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(10)).until(() -> {
                    flood.sendWhatTheSocketTakes();
                    return server.stats().pendingOutput() >= maxPending;
                });
                // refills what the server read before it stopped: the flooder has more to send than the
                // socket takes, held back, and requests wait that the server does not read
                flood.sendWhatTheSocketTakes();
                long readWhenPaused = server.stats().bytesRead();
                assertTrue(server.stats().pendingOutput() <= maxPending + ONE_BATCH_OF_ANSWERS,
                        "pending output " + server.stats().pendingOutput() + " passed the limit");

                // meanwhile another client is served at once
                try (RawClient other = RawClient.connect(address)) {
                    assertEquals(17, other.add(7, 10));
                }
                assertTrue(server.stats().bytesRead() - readWhenPaused <= Protocol.REQUEST_BYTES,
                        "the server went on reading the client that does not read");

                // once the client reads, the server resumes, and every answer is right, the one
                // to the request the full socket cut short too, once its last bytes are sent
                flooder.channel.configureBlocking(true);
                long whole = flood.sent / Protocol.REQUEST_BYTES;
                AtomicLong answered = new AtomicLong();
                LongConsumer check = answer -> {
                    long i = answered.getAndIncrement();
                    if (answer != i + 1) {
                        assertEquals(i + 1, answer, "answer " + i);
                    }
                };
                if (flooder.channel instanceof TlsSocketChannel tls) {
                    // the requests of a record the socket took part of are answered once the rest of it goes,
                    // which it can only once the server reads again: after the answers to the others are read
                    long received = tls.deliveredBytes() / Protocol.REQUEST_BYTES;
                    flooder.read(received, check);
                    tls.write(ByteBuffer.allocate(0)); // blocking: sends the rest of the record
                    flooder.read(whole - received, check);
                } else {
                    flooder.read(whole, check);
                }
                if (flood.finishRequest()) {
                    assertEquals(whole + 1, flooder.read());
                }
                // the server counts its held answers as gone just after the write that sent the last of them
                await().atMost(Duration.ofSeconds(30)).until(() -> server.stats().pendingOutput() == 0);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void halfCloseGetsEveryCompleteRequestAnsweredThenTheServerCloses(TransportWithTls transport) throws IOException {
        try (AdderServer server = transport.builder(dir).build()) {
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
    @EnumSource(TransportWithTls.class)
    void clientResetMidRequestClosesOnlyThatConnection(TransportWithTls transport) throws IOException {
        try (AdderServer server = transport.builder(dir).build()) {
            server.start();
            AdderAddress address = server.addresses().get(0);
            try (RawClient bystander = RawClient.connect(address)) {
                assertEquals(3, bystander.add(1, 2));
                RawClient resetter = RawClient.connect(address);
                resetter.write(new byte[7]);
                if (transport.overTcp()) {
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
    @EnumSource(TransportWithTls.class)
    void idleConnectionIsClosedAfterTheIdleTimeout(TransportWithTls transport) throws IOException {
        try (AdderServer server = transport.builder(dir)
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
    @EnumSource(TransportWithTls.class)
    void connectionOverTheMaximumIsRefusedAndCounted(TransportWithTls transport) throws IOException {
        try (AdderServer server = transport.builder(dir)
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

    /**
     * Requests {@code (i, 1)}, {@code i} from 0 up, without end and without
     * blocking: a client that never reads, and sends as much as the socket
     * takes. So the flood is as long as the kernel's buffers and the server's
     * limit let it be, whatever this host makes of them (a few MiB on TCP
     * loopback), with no count to guess past them.
     */
    private static final class Flood {
        private final SocketChannel channel;
        private final ByteBuffer batch = ByteBuffer.allocate(4096 * Protocol.REQUEST_BYTES);
        private long encoded;
        /** Bytes the socket took. */
        long sent;

        Flood(SocketChannel channel) throws IOException {
            this.channel = channel;
            channel.configureBlocking(false);
            batch.flip();
        }

        /** Writes until the socket takes nothing more (the channel not blocking). */
        void sendWhatTheSocketTakes() throws IOException {
            while (true) {
                if (!batch.hasRemaining()) {
                    batch.clear();
                    while (batch.hasRemaining()) {
                        Protocol.encodeRequest(batch, encoded++, 1);
                    }
                    batch.flip();
                }
                int written = channel.write(batch);
                if (written == 0) {
                    return;
                }
                sent += written;
            }
        }

        /** Sends the rest of a request the socket took part of (the channel blocking); whether there was one. */
        boolean finishRequest() throws IOException {
            int cut = (int) (sent % Protocol.REQUEST_BYTES);
            if (cut == 0) {
                return false;
            }
            ByteBuffer rest = batch.duplicate();
            rest.limit(rest.position() + Protocol.REQUEST_BYTES - cut);
            while (rest.hasRemaining()) {
                sent += channel.write(rest);
            }
            return true;
        }
    }
}
