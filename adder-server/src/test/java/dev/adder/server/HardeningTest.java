package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.Transport;
import dev.adder.testing.TransportWithTls;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** What a hostile or unlucky day does to a server, and what it must not do. */
@Timeout(120)
class HardeningTest {

    /** The most answers one read can produce: a full read buffer of requests. */
    private static final long ONE_READS_ANSWERS = (256 * 1024 / Protocol.REQUEST_BYTES + 1) * Protocol.RESPONSE_BYTES;

    @TempDir
    Path dir;

    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final List<RawClient> clients = new ArrayList<>();

    @AfterEach
    void closeClients() throws IOException {
        for (RawClient client : clients) {
            client.close();
        }
        pool.shutdownNow();
    }

    private RawClient connect(AdderAddress address) throws IOException {
        RawClient client = RawClient.connect(address);
        clients.add(client);
        return client;
    }

    /** A client that never reads, on a thread of the pool. */
    private Future<?> flood(RawClient client) {
        return pool.submit(client::pipelineWithoutReading);
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void answersHeldForClientsThatNeverReadStayWithinTheServerWideBudget(TransportWithTls transport) throws Exception {
        long budget = 256 * 1024;
        int flooders = 16;
        try (AdderServer server = transport.builder(dir)
                .maxPendingOutput(64 * 1024).maxPendingOutputTotal(budget).build()) {
            server.start();
            AdderAddress address = server.addresses().get(0);
            for (int i = 0; i < flooders; i++) {
                flood(connect(address));
            }
            RawClient checked = connect(address);
            long call = 0;
            // each flooder alone stays under its own limit (64 KiB); together they would hold far more than the budget
            while (server.currentLoop().counters().peakPendingOutput.get() < budget || call < 2_000) {
                assertEquals(call + 1, checked.add(call, 1));
                call++;
            }
            assertTrue(server.isRunning());
            // Past the budget, a connection holding answers is not read; one holding none reads 256 bytes at a
            // time, or under TLS one record (at most 16709 bytes, whose answers and their record are under 9 KiB).
            long oneRead = transport == TransportWithTls.TLS ? 9 * 1024 : 128;
            long bound = budget + ONE_READS_ANSWERS + (flooders + 1) * 2L * oneRead;
            long peak = server.currentLoop().counters().peakPendingOutput.get();
            assertTrue(peak <= bound, "answers held peaked at " + peak + " bytes, over " + bound);
            for (int i = 0; i < flooders; i++) {
                clients.get(i).close();
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> server.stats().pendingOutput() == 0
                    && server.stats().openConnections() == 1);
            assertEquals(41, checked.add(40, 1));
        }
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void heldAnswersAreUncountedWhenTheirReaderGoesAwayWithAnswersPending(TransportWithTls transport) throws Exception {
        try (AdderServer server = transport.builder(dir)
                .maxPendingOutput(64 * 1024).build()) {
            server.start();
            RawClient client = connect(server.addresses().get(0));
            flood(client);
            // paused at its limit: the connection now waits only to write, which will fail
            await().atMost(Duration.ofSeconds(60)).until(() -> server.stats().pendingOutput() >= 64 * 1024);
            if (transport.overTcp()) {
                client.channel.setOption(StandardSocketOptions.SO_LINGER, 0); // close with a reset
            }
            client.close();
            await().atMost(Duration.ofSeconds(30)).until(() -> server.stats().openConnections() == 0);
            assertEquals(0, server.stats().pendingOutput(), "answers still counted as held after their client left");
            assertTrue(server.isRunning());
        }
    }

    @Test
    void aSecondCloseFromAnotherThreadReturnsOnlyOnceTheLoopHasEnded() throws Exception {
        AdderServer server = AdderServer.builder().listen(Transport.UNIX.listenAddress(dir))
                .maxPendingOutput(64 * 1024).drainTimeout(Duration.ofSeconds(3)).build();
        server.start();
        RawClient slow = connect(server.addresses().get(0));
        flood(slow); // never reads: the drain lasts until its deadline
        await().atMost(Duration.ofSeconds(60)).until(() -> server.stats().pendingOutput() >= 64 * 1024);
        Thread first = new Thread(server::close, "first-close");
        first.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> first.getState() == Thread.State.TIMED_WAITING
                || first.getState() == Thread.State.WAITING);
        server.close();
        assertFalse(server.isRunning(), "the second close() returned while the loop was still draining");
        first.join();
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void aRebuiltSelectorKeepsEveryConnectionAndStillStops(TransportWithTls transport) throws Exception {
        AdderServer server = transport.startServer(dir);
        AdderAddress address = server.addresses().get(0);
        RawClient before = connect(address);
        assertEquals(3, before.add(1, 2));
        server.currentLoop().rebuildSelectorSoon();
        await().atMost(Duration.ofSeconds(10)).until(() -> server.currentLoop().counters().selectorRebuilds.get() == 1);
        assertEquals(7, before.add(3, 4), "a connection accepted before the rebuild");
        assertEquals(11, connect(address).add(5, 6), "a connection accepted after it");
        // close() must wake the new selector: the loop sleeps in select() with no deadline
        Thread closer = new Thread(server::close);
        closer.start();
        await().atMost(Duration.ofSeconds(20)).until(() -> !closer.isAlive());
        assertFalse(server.isRunning());
        assertTrue(before.readsEndOfStream());
    }

    @Test
    void anErrorOnTheLoopEndsItVisiblyAndClosesEverything() throws Exception {
        AdderServer server = AdderServer.builder().listen(Transport.UNIX.listenAddress(dir)).build();
        server.start();
        RawClient client = connect(server.addresses().get(0));
        assertEquals(3, client.add(1, 2));
        OutOfMemoryError error = new OutOfMemoryError("simulated, on the loop thread");
        server.currentLoop().execute(() -> {
            throw error;
        });
        await().atMost(Duration.ofSeconds(10)).until(() -> !server.isRunning());
        assertSame(error, server.failure().orElseThrow());
        assertTrue(client.readsEndOfStream(), "a connection stayed open after the loop failed");
        assertFalse(Files.exists(dir.resolve("adder.sock"), LinkOption.NOFOLLOW_LINKS), "the socket file stayed");
        server.close(); // still idempotent and prompt after a failure
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void stopAnswersRequestsWaitingInTheKernelForAConnectionPausedByBackpressure(TransportWithTls transport) throws Exception {
        int limit = 64 * 1024;
        AdderServer server = transport.builder(dir)
                .maxPendingOutput(limit).build();
        server.start();
        AdderAddress address = server.addresses().get(0);
        SocketChannel socket = SocketChannel.open(address.isUnix() ? StandardProtocolFamily.UNIX : StandardProtocolFamily.INET);
        if (transport.overTcp()) {
            // little in flight at any time, so what follows the pause fits the server's receive window
            socket.setOption(StandardSocketOptions.SO_SNDBUF, 16 * 1024);
        }
        socket.connect(address.toSocketAddress());
        RawClient client = RawClient.wrap(socket, address);
        clients.add(client);
        SocketChannel channel = client.channel;
        // never blocking: a blocking write made just as the server stops reading would wait for ever
        channel.configureBlocking(false);
        Pipeline pipeline = new Pipeline(channel);
        // pipeline without reading until the server holds its limit of answers and stops reading
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(1)).until(() -> {
            pipeline.writeWhatFits();
            return server.stats().pendingOutput() >= limit;
        });
        // then more requests, as many as the kernel takes: they wait in its receive buffer, unread
        pipeline.writeWhatFits();
        // under TLS, a record the socket took part of is not received: its requests are not counted
        long sent = channel instanceof TlsSocketChannel tls
                ? tls.deliveredBytes() / Protocol.REQUEST_BYTES : pipeline.wholeRequestsWritten();
        channel.configureBlocking(true);
        if (transport.overTcp()) {
            int port = ((InetSocketAddress) client.channel.getLocalAddress()).getPort();
            await().atMost(Duration.ofSeconds(10)).until(() -> unacknowledgedBytes(port) == 0);
        }
        long requestsSent = sent;
        Future<?> closing = pool.submit(server::close);
        ByteBuffer answers = ByteBuffer.allocate(64 * 1024).order(Protocol.BYTE_ORDER);
        long received = 0;
        while (client.channel.read(answers) >= 0) {
            answers.flip();
            while (answers.remaining() >= Protocol.RESPONSE_BYTES) {
                assertEquals(received % 1024 + 1, Protocol.decodeResponse(answers), "answer " + received);
                received++;
            }
            answers.compact();
        }
        closing.get();
        assertEquals(requestsSent, received, "requests sent before the stop began, and answered");
    }

    /** Requests {@code i % 1024 + 1}, i = 0, 1, ..., written as fast as a non-blocking channel takes them. */
    private static final class Pipeline {
        private final SocketChannel channel;
        private final ByteBuffer batch = ByteBuffer.allocate(1024 * Protocol.REQUEST_BYTES).flip();
        private long bytesWritten;

        Pipeline(SocketChannel channel) {
            this.channel = channel;
        }

        void writeWhatFits() throws IOException {
            while (true) {
                if (!batch.hasRemaining()) {
                    batch.clear();
                    for (int i = 0; i < 1024; i++) {
                        Protocol.encodeRequest(batch, i, 1);
                    }
                    batch.flip();
                }
                int n = channel.write(batch);
                bytesWritten += n;
                if (n == 0) {
                    return;
                }
            }
        }

        /** A request cut short by a full socket is not one: the server never answers it. */
        long wholeRequestsWritten() {
            return bytesWritten / Protocol.REQUEST_BYTES;
        }
    }

    /** Bytes a local TCP socket has sent that its peer's kernel has not acknowledged (Linux). */
    private static long unacknowledgedBytes(int localPort) throws IOException {
        String portHex = String.format(Locale.ROOT, ":%04X", localPort);
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            for (String line : Files.readAllLines(Path.of(table))) {
                String[] fields = line.trim().split("\\s+");
                if (fields.length > 4 && fields[1].endsWith(portHex)) {
                    return Long.parseLong(fields[4].split(":")[0], 16);
                }
            }
        }
        throw new AssertionError("no socket with local port " + localPort + " in /proc/net/tcp");
    }
}
