package dev.adder.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import dev.adder.testing.AcceptQueue;
import dev.adder.testing.CheckedSums;
import dev.adder.testing.Transport;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

@Timeout(180)
class AdderClientTest {

    @TempDir
    Path dir;

    private AdderServer startServer(AdderAddress address) throws IOException {
        AdderServer server = AdderServer.builder().listen(address).build();
        server.start();
        return server;
    }

    /** A Unix listener that never accepts, with its accept queue filled by connections held open. */
    private static ServerSocketChannel fullListener(Path path, List<SocketChannel> queued) throws IOException {
        ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(path), 1);
        AcceptQueue.fill(path, queued);
        return listener;
    }

    @Test
    void aFullUnixAcceptQueueIsWaitedOutUntilTheConnectTimeoutAndThenNamed() throws IOException {
        Path path = dir.resolve("busy.sock");
        List<SocketChannel> queued = new ArrayList<>();
        ServerSocketChannel listener = fullListener(path, queued);
        try {
            AdderClient.Builder builder = AdderClient.builder("unix:" + path).connectTimeout(Duration.ofMillis(300));
            AdderTimeoutException e = assertThrows(AdderTimeoutException.class, builder::connect);
            assertEquals("timed out connecting to unix:" + path
                    + ": the server's queue of connections to accept stayed full for 300 ms", e.getMessage());
        } finally {
            listener.close();
            for (SocketChannel channel : queued) {
                channel.close();
            }
        }
    }

    @Test
    void aFullUnixAcceptQueueThatDrainsBeforeTheDeadlineLetsTheClientConnect() throws Exception {
        Path path = dir.resolve("busy.sock");
        List<SocketChannel> queued = new ArrayList<>();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (ServerSocketChannel listener = fullListener(path, queued)) {
            Future<AdderClient> connecting = pool.submit(() -> AdderClient.builder("unix:" + path)
                    .connectTimeout(Duration.ofSeconds(60)).connect());
            // the server gets round to accepting: the queue drains, and the waiting client gets in
            List<SocketChannel> accepted = new ArrayList<>();
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> {
                SocketChannel next = listener.accept();
                if (next != null) {
                    accepted.add(next);
                }
                return connecting.isDone();
            });
            connecting.get().close();
            for (SocketChannel channel : accepted) {
                channel.close();
            }
        } finally {
            for (SocketChannel channel : queued) {
                channel.close();
            }
            pool.shutdownNow();
        }
    }

    @Test
    void timeoutsOutsideTheirRangeAreRefusedNamingTheSetting() {
        AdderClient.Builder builder = AdderClient.builder("unix:adder.sock");
        assertEquals("callTimeout must be from 1ms to 24h, not PT3000000H", assertThrows(IllegalArgumentException.class,
                () -> builder.callTimeout(Duration.ofHours(3_000_000))).getMessage());
        assertEquals("connectTimeout must be from 1ms to 24h, not 0", assertThrows(IllegalArgumentException.class,
                () -> builder.connectTimeout(Duration.ZERO)).getMessage());
    }

    @Test
    void aBusyPollWindowOutsideZeroToOneMillisecondIsRefused() {
        AdderClient.Builder builder = AdderClient.builder("unix:adder.sock");
        for (Duration wrong : List.of(Duration.ofNanos(-1), Duration.ofMillis(1).plusNanos(1), Duration.ofSeconds(1))) {
            String message = assertThrows(IllegalArgumentException.class, () -> builder.busyPoll(wrong)).getMessage();
            assertTrue(message.startsWith("busyPoll must be from 0 to 1ms, not "), message);
        }
        builder.busyPoll(Duration.ZERO).busyPoll(Duration.ofMillis(1));
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aClientThatNeverPollsAnswersAsOneThatDoes(Transport transport) throws IOException {
        try (AdderServer server = transport.startServer(dir);
             AdderClient never = AdderClient.builder(server.addresses().get(0)).busyPoll(Duration.ZERO).connect();
             AdderClient polls = AdderClient.builder(server.addresses().get(0)).connect()) {
            for (int i = 0; i < 2_000; i++) {
                assertEquals(i + 7L, never.add(i, 7));
                assertEquals(i - 7L, polls.add(i, -7));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void addsSevenAndTen(Transport transport) throws IOException {
        try (AdderServer server = transport.startServer(dir);
             AdderClient client = AdderClient.connect(server.addresses().get(0).toString())) {
            assertEquals(17, client.add(7, 10));
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void wrapsAroundLikeJavaLong(Transport transport) throws IOException {
        try (AdderServer server = transport.startServer(dir);
             AdderClient client = AdderClient.builder(server.addresses().get(0)).connect()) {
            assertEquals(Long.MIN_VALUE, client.add(Long.MAX_VALUE, 1));
            assertEquals(Long.MAX_VALUE, client.add(Long.MIN_VALUE, -1));
            assertEquals(-2, client.add(Long.MAX_VALUE, Long.MAX_VALUE));
            assertEquals(-12, client.add(-5, -7));
            assertEquals(24691356902469L, client.add(123456789012345L, -98765432109876L));
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void addExactThrowsOnOverflowOnly(Transport transport) throws IOException {
        try (AdderServer server = transport.startServer(dir);
             AdderClient client = AdderClient.builder(server.addresses().get(0)).connect()) {
            assertEquals(Long.MAX_VALUE, client.addExact(Long.MAX_VALUE, 0));
            assertEquals(-1, client.addExact(Long.MAX_VALUE, Long.MIN_VALUE));
            assertEquals(Long.MIN_VALUE, client.addExact(Long.MIN_VALUE + 1, -1));
            ArithmeticException e = assertThrows(ArithmeticException.class, () -> client.addExact(Long.MAX_VALUE, 1));
            assertEquals("long overflow: 9223372036854775807 + 1", e.getMessage());
            assertThrows(ArithmeticException.class, () -> client.addExact(Long.MIN_VALUE, -1));
            // an overflow is an answer, not a failure: the connection stays usable
            assertEquals(17, client.addExact(7, 10));
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void sixteenThreadsSharingOneClientEachGetTheirOwnAnswers(Transport transport) throws Exception {
        int threads = 16;
        int calls = 10_000;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (AdderServer server = transport.startServer(dir);
             AdderClient client = AdderClient.builder(server.addresses().get(0)).connect()) {
            CheckedSums.assertAllRight(pool, threads, calls, t -> client::add);
            assertEquals((long) threads * calls, server.stats().requests());
            assertEquals(1, server.stats().accepted(), "the shared client used more than one connection");
        } finally {
            pool.shutdownNow();
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void batchOfTenMillionPairsIsAnsweredWithoutDeadlock(Transport transport) throws IOException {
        int count = 10_000_000;
        long[] xs = new long[count];
        long[] ys = new long[count];
        SplittableRandom random = new SplittableRandom(42);
        for (int i = 0; i < count; i++) {
            xs[i] = random.nextLong();
            ys[i] = random.nextLong();
        }
        try (AdderServer server = transport.startServer(dir);
             AdderClient client = AdderClient.builder(server.addresses().get(0)).connect()) {
            long[] sums = client.addAll(xs, ys);
            assertEquals(count, sums.length);
            for (int i = 0; i < count; i++) {
                if (sums[i] != xs[i] + ys[i]) {
                    assertEquals(xs[i] + ys[i], sums[i], "sum " + i);
                }
            }
            // the connection is in step afterwards
            assertEquals(17, client.add(7, 10));
            assertArrayEquals(new long[0], client.addAll(new long[0], new long[0]));
        }
    }

    @Test
    void batchWithArraysOfDifferentLengthsIsRejected() throws IOException {
        try (AdderServer server = startServer(AdderAddress.tcp("127.0.0.1", 0));
             AdderClient client = AdderClient.builder(server.addresses().get(0)).connect()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> client.addAll(new long[2], new long[3]));
            assertEquals("xs has 2 values but ys has 3", e.getMessage());
            assertEquals(17, client.add(7, 10));
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void callTimesOutAgainstAListenerThatNeverAnswers(Transport transport) throws IOException {
        AdderAddress address = transport.listenAddress(dir);
        try (ServerSocketChannel silent = address.isUnix()
                ? ServerSocketChannel.open(StandardProtocolFamily.UNIX)
                : ServerSocketChannel.open()) {
            silent.bind(address.toSocketAddress());
            AdderAddress bound = AdderAddress.of(silent.getLocalAddress());
            // the kernel completes the connection from the backlog; nobody ever reads or answers
            try (AdderClient client = AdderClient.builder(bound).callTimeout(Duration.ofMillis(300)).connect()) {
                AdderTimeoutException e = assertThrows(AdderTimeoutException.class, () -> client.add(7, 10));
                assertEquals("timed out waiting for an answer from " + bound, e.getMessage());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void nextCallAfterTheServerRestartsAtTheSameAddressSucceeds(Transport transport) throws IOException {
        AdderServer first = transport.startServer(dir);
        AdderAddress address = first.addresses().get(0);
        try (AdderClient client = AdderClient.builder(address).connect()) {
            assertEquals(17, client.add(7, 10));
            first.close();
            try (AdderServer second = startServer(address)) {
                assertEquals(30, client.add(10, 20));
                assertEquals(1, second.stats().accepted());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void failedCallIsReportedAndTheNextCallConnectsAgain(Transport transport) throws IOException {
        AdderServer first = transport.startServer(dir);
        AdderAddress address = first.addresses().get(0);
        try (AdderClient client = AdderClient.builder(address).connectTimeout(Duration.ofSeconds(2)).replay(false)
                .connect()) {
            assertEquals(3, client.add(1, 2));
            first.close();
            AdderException down = assertThrows(AdderException.class, () -> client.add(1, 2));
            assertTrue(down.getMessage().startsWith("cannot connect to " + address + ": "), down.getMessage());
            try (AdderServer second = startServer(address)) {
                assertEquals(17, client.add(7, 10));
                assertEquals(1, second.stats().requests());
            }
        }
    }

    @Test
    void serverClosingMidResponseIsAClearErrorAndTheConnectionIsDropped() throws Exception {
        Path path = dir.resolve("rude.sock");
        try (ServerSocketChannel rude = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            rude.bind(UnixDomainSocketAddress.of(path));
            ExecutorService acceptor = Executors.newSingleThreadExecutor();
            try {
                Future<?> served = acceptor.submit(() -> {
                    try (SocketChannel one = rude.accept()) {
                        one.read(ByteBuffer.allocate(16));
                        one.write(ByteBuffer.wrap(new byte[] {17, 0, 0})); // three bytes of an answer, then gone
                    }
                    return null;
                });
                try (AdderClient client = AdderClient.builder("unix:" + path).replay(false).connect()) {
                    AdderException e = assertThrows(AdderException.class, () -> client.add(7, 10));
                    assertEquals("the server closed the connection to unix:" + path
                            + " in the middle of an answer (3 of 8 bytes)", e.getMessage());
                }
                served.get();
            } finally {
                acceptor.shutdownNow();
            }
        }
    }

    @Test
    void connectionRefusedOnTcpIsAClearError() throws IOException {
        int port;
        try (ServerSocketChannel probe = ServerSocketChannel.open()) {
            probe.bind(new java.net.InetSocketAddress("127.0.0.1", 0));
            port = ((java.net.InetSocketAddress) probe.getLocalAddress()).getPort();
        }
        int closedPort = port;
        AdderException e = assertThrows(AdderException.class,
                () -> AdderClient.connect("tcp:127.0.0.1:" + closedPort));
        assertEquals("cannot connect to tcp:127.0.0.1:" + closedPort + ": connection refused (is the server running?)",
                e.getMessage());
    }

    @Test
    void missingSocketFileIsAClearError() {
        Path path = dir.resolve("nobody.sock");
        AdderException e = assertThrows(AdderException.class, () -> AdderClient.connect("unix:" + path));
        assertEquals("cannot connect to unix:" + path + ": no socket file at " + path + " (is the server running?)",
                e.getMessage());
    }

    @Test
    void callAfterCloseIsAnError() throws IOException {
        try (AdderServer server = startServer(AdderAddress.tcp("127.0.0.1", 0))) {
            AdderClient client = AdderClient.builder(server.addresses().get(0)).connect();
            client.close();
            client.close();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> client.add(1, 2));
            assertTrue(e.getMessage().endsWith(" is closed"), e.getMessage());
        }
    }
}
