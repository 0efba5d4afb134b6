package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.TestTls;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Clients that attack a TLS listener, each with a clear outcome that costs the server nothing: it
 * goes on serving others, and once the attacker is gone its connections, held answers and
 * handshakes in progress are back to zero, and (at close) its TLS threads and its descriptors are
 * gone. The handshakes in progress are shown back to zero by a bound of one: a server that lost
 * count would never accept another TLS client.
 */
@Timeout(120)
class TlsAbuseTest {

    /** Long enough for any handshake here, so that a client that waits for the server fails rather than hangs. */
    private static final int READ_TIMEOUT_MILLIS = 30_000;
    /** Short enough to wait for, long enough that a checking client's handshake on a loaded machine finishes within it. */
    private static final Duration SHORT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    private TestTls tls;
    private final List<AdderServer> servers = new ArrayList<>();
    private final List<AutoCloseable> clients = new ArrayList<>();
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private long descriptorsBefore;

    @BeforeEach
    void certificates() throws IOException {
        tls = TestTls.in(dir);
        descriptorsBefore = -1;
    }

    @AfterEach
    void closeEverything() throws Exception {
        for (AutoCloseable client : clients) {
            client.close();
        }
        for (AdderServer server : servers) {
            server.close();
        }
        pool.shutdownNow();
    }

    /** A TLS server with the test keys, one handshake at a time at most, started. */
    private AdderServer start(UnaryOperator<AdderServer.Builder> settings) throws IOException {
        AdderServer server = settings.apply(AdderServer.builder().listen(AdderAddress.tls("127.0.0.1", 0))
                .tls(tls.serverCert(), tls.serverKey()).maxHandshakes(1)).build();
        servers.add(server);
        server.start();
        // the first client loads what TLS needs in this JVM (classes, their jars): the descriptors counted after it stay
        assertServes(server);
        descriptorsBefore = openDescriptors();
        return server;
    }

    private static AdderAddress address(AdderServer server) {
        return server.addresses().get(0);
    }

    private SSLSocket connect(SSLContext context, AdderAddress address, String... protocols) throws IOException {
        SSLSocket socket = TestTls.connect(context, address, protocols);
        clients.add(socket);
        socket.setSoTimeout(READ_TIMEOUT_MILLIS);
        return socket;
    }

    private SocketChannel plain(AdderAddress address) throws IOException {
        SocketChannel channel = SocketChannel.open(new InetSocketAddress("127.0.0.1", address.port()));
        clients.add(channel);
        return channel;
    }

    private static long add(SSLSocket socket, long x, long y) throws IOException {
        OutputStream out = socket.getOutputStream();
        out.write(RawClient.request(x, y));
        out.flush();
        byte[] answer = new byte[Protocol.RESPONSE_BYTES];
        new DataInputStream(socket.getInputStream()).readFully(answer);
        return Protocol.decodeResponse(ByteBuffer.wrap(answer).order(Protocol.BYTE_ORDER));
    }

    /** A well-behaved client is served: a handshake (which a server that lost count of its handshakes never begins) and a sum. */
    private void assertServes(AdderServer server) throws IOException {
        try (SSLSocket good = connect(tls.clientWithCertificate(), address(server))) {
            assertEquals(17, add(good, 7, 10));
        }
    }

    /**
     * What an attack must leave: the server serves, and once the attackers are gone nothing of
     * theirs is held; at close, no TLS thread and no descriptor of the server's is left.
     */
    private void assertCostsNothing(AdderServer server) throws Exception {
        assertServes(server);
        for (AutoCloseable client : clients) {
            client.close();
        }
        clients.clear();
        await().atMost(Duration.ofSeconds(30)).until(() -> server.stats().openConnections() == 0);
        assertEquals(0, server.stats().pendingOutput());
        assertServes(server); // the handshake count is back: a bound of one admits this one
        assertTrue(server.isRunning());
        server.close();
        await().atMost(Duration.ofSeconds(30)).until(() -> Thread.getAllStackTraces().keySet().stream()
                .noneMatch(thread -> thread.getName().startsWith("adder-tls-")));
        if (Files.isDirectory(Path.of("/proc/self/fd"))) {
            await().atMost(Duration.ofSeconds(30)).until(() -> openDescriptors() <= descriptorsBefore);
        }
    }

    private static long openDescriptors() throws IOException {
        Path fds = Path.of("/proc/self/fd");
        if (!Files.isDirectory(fds)) {
            return 0;
        }
        try (Stream<Path> open = Files.list(fds)) {
            return open.count();
        }
    }

    /** Reads until the end of the stream (or a reset); returns the bytes read. */
    private static byte[] readToEnd(SocketChannel channel) {
        ByteArrayOutputStream read = new ByteArrayOutputStream();
        ByteBuffer buffer = ByteBuffer.allocate(4096);
        try {
            while (channel.read(buffer.clear()) >= 0) {
                read.write(buffer.array(), 0, buffer.position());
            }
        } catch (IOException reset) {
            // an end too
        }
        return read.toByteArray();
    }

    /** The first bytes a TLS client sends: its ClientHello record(s), from a JDK engine. */
    private byte[] clientHello() throws IOException {
        SSLEngine engine = tls.clientTrustingCa().createSSLEngine("127.0.0.1", 1);
        engine.setUseClientMode(true);
        ByteBuffer out = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        engine.wrap(ByteBuffer.allocate(0), out);
        return java.util.Arrays.copyOf(out.array(), out.position());
    }

    @Test
    void aPlaintextClientOnATlsPortGetsNoAnswerAndIsClosed() throws Exception {
        AdderServer server = start(b -> b);
        SocketChannel teaching = plain(address(server));
        // the teaching client's frames: x, then y, in two writes
        ByteBuffer request = ByteBuffer.wrap(RawClient.request(7, 10));
        teaching.write(request.limit(8));
        try {
            teaching.write(request.limit(16));
        } catch (IOException closedAlready) {
            // the server may have closed on the first 8 bytes
        }
        byte[] got = readToEnd(teaching);
        // nothing, or a TLS alert record (content type 21): never an answer
        assertTrue(got.length == 0 || got[0] == 21, () -> "a plaintext client got " + got.length + " bytes, first " + got[0]);
        assertCostsNothing(server);
    }

    @Test
    void aTlsClientOnAPlainPortFailsItsHandshakeAndTheServerGoesOn() throws Exception {
        AdderServer server = AdderServer.builder().listen("tcp:127.0.0.1:0").build();
        servers.add(server);
        server.start();
        // the server takes the ClientHello for requests and answers them; the client cannot read that as TLS
        SSLSocket socket = connect(tls.clientTrustingCa(), AdderAddress.tls("127.0.0.1", address(server).port()));
        assertThrows(SSLException.class, socket::startHandshake);
        socket.close();
        await().atMost(Duration.ofSeconds(30)).until(() -> server.stats().openConnections() == 0);
        try (RawClient plain = RawClient.connect(address(server))) {
            assertEquals(17, plain.add(7, 10));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"expired.pem", "wrong-host.pem"})
    void aJdkClientRefusesAnExpiredOrWrongHostCertificateEachTime(String certificate) throws Exception {
        AdderServer server = AdderServer.builder().listen(AdderAddress.tls("127.0.0.1", 0))
                .tls(tls.file(certificate), tls.serverKey()).maxHandshakes(1).build();
        servers.add(server);
        server.start();
        // three in a row, each refused by the client: none of them is left counted as a handshake in progress
        for (int i = 0; i < 3; i++) {
            SSLSocket socket = connect(tls.clientTrustingCa(), address(server));
            assertThrows(SSLHandshakeException.class, socket::startHandshake);
            socket.close();
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> server.stats().openConnections() == 0);
        assertTrue(server.isRunning());
    }

    @Test
    void aJdkClientRefusesACertificateOfACaItDoesNotTrust() throws Exception {
        AdderServer server = start(b -> b);
        // the untrusted CA's client trusts that CA alone
        SSLContext trustingTheOtherCa = dev.adder.core.tls.TlsFiles.trustContext(tls.file("other-ca.pem"));
        for (int i = 0; i < 3; i++) {
            SSLSocket socket = connect(trustingTheOtherCa, address(server));
            assertThrows(SSLHandshakeException.class, socket::startHandshake);
            socket.close();
        }
        assertCostsNothing(server);
    }

    @Test
    void withMutualTlsAClientWithoutATrustedCertificateIsRefusedEachTime() throws Exception {
        AdderServer server = start(b -> b.tlsClientCa(tls.ca()));
        for (int i = 0; i < 3; i++) {
            for (SSLContext context : List.of(tls.clientWithUntrustedCertificate(), tls.clientTrustingCa())) {
                // under TLS 1.3 the client's side of the handshake may end before the server refuses it
                SSLSocket socket = connect(context, address(server));
                assertThrows(IOException.class, () -> add(socket, 7, 10));
                socket.close();
            }
        }
        assertCostsNothing(server);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 5, 40})
    void aClientThatStopsMidHandshakeIsClosedAtTheHandshakeTimeout(int helloBytesSent) throws Exception {
        AdderServer server = start(b -> b.handshakeTimeout(SHORT_HANDSHAKE_TIMEOUT));
        SocketChannel stalled = plain(address(server));
        stalled.write(ByteBuffer.wrap(clientHello(), 0, helloBytesSent));
        assertEquals(0, readToEnd(stalled).length, "the server closes it without a word");
        assertCostsNothing(server);
    }

    @Test
    void theHandshakeDeadlineHoldsForAClientThatDripsItsHelloAByteAtATime() throws Exception {
        AdderServer server = start(b -> b.handshakeTimeout(SHORT_HANDSHAKE_TIMEOUT));
        SocketChannel dripping = plain(address(server));
        byte[] hello = clientHello();
        // a byte each 50 ms: the hello would take 15 s or more, far past the deadline, which counts from the accept
        Future<Integer> sent = pool.submit(() -> {
            int i = 0;
            try {
                for (; i < hello.length; i++) {
                    dripping.write(ByteBuffer.wrap(hello, i, 1));
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50)); // the drip's pace: what is under test
                }
            } catch (IOException closedByTheServer) {
                // the end this client meets
            }
            return i;
        });
        readToEnd(dripping);
        dripping.close();
        assertTrue(sent.get() < hello.length, "the whole hello went before the server closed the connection");
        assertCostsNothing(server);
    }

    @Test
    void pastMaxHandshakesConnectionsWaitInTheKernelsQueueAndAreServedOnceOthersEnd() throws Exception {
        AdderServer server = start(b -> b.maxHandshakes(2).handshakeTimeout(Duration.ofMinutes(1)));
        long acceptedBefore = server.stats().accepted();
        SocketChannel first = plain(address(server));
        SocketChannel second = plain(address(server));
        await().atMost(Duration.ofSeconds(30)).until(() -> server.stats().accepted() == acceptedBefore + 2);
        Future<Long> third = pool.submit(() -> add(connect(tls.clientWithCertificate(), address(server)), 7, 10));
        // two handshakes are in progress, at the bound: the third is not accepted, and waits
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5))
                .until(() -> !third.isDone() && server.stats().accepted() == acceptedBefore + 2);
        first.close();
        assertEquals(17, third.get(30, TimeUnit.SECONDS));
        second.close();
        // and a burst of twenty at once, two handshakes at a time: every one is served
        List<Future<Long>> burst = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            long x = i;
            burst.add(pool.submit(() -> add(connect(tls.clientWithCertificate(), address(server)), x, 1)));
        }
        for (int i = 0; i < burst.size(); i++) {
            assertEquals(i + 1, burst.get(i).get(60, TimeUnit.SECONDS));
        }
        assertCostsNothing(server);
    }

    @Test
    void aTls12RenegotiationIsRefusedByClosingTheConnection() throws Exception {
        AdderServer server = start(b -> b);
        SSLSocket socket = connect(tls.clientWithCertificate(), address(server), "TLSv1.2");
        assertEquals(17, add(socket, 7, 10));
        assertEquals("TLSv1.2", socket.getSession().getProtocol());
        assertThrows(IOException.class, () -> {
            socket.startHandshake(); // a second handshake on an established TLS 1.2 connection: renegotiation
            add(socket, 1, 2);
        });
        assertCostsNothing(server);
    }

    @Test
    void garbageInARecordAfterTheHandshakeClosesThatConnectionAlone() throws Exception {
        AdderServer server = start(b -> b);
        try (RawClient attacker = RawClient.connect(address(server))) {
            assertEquals(3, attacker.add(1, 2));
            // an application-data record of TLS 1.3's form, its contents random: it cannot be opened
            ByteBuffer record = ByteBuffer.allocate(5 + 64).put(new byte[] {23, 3, 3, 0, 64});
            new java.util.SplittableRandom(1).ints(64).forEach(b -> {
                if (record.hasRemaining()) {
                    record.put((byte) b);
                }
            });
            ((SocketChannel) TlsSocketChannel.socket(attacker.channel)).write(record.flip());
            assertTrue(attacker.readsEndOfStream());
        }
        assertCostsNothing(server);
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void aRecordHeaderClaimingAHugeLengthClosesTheConnection(boolean afterTheHandshake) throws Exception {
        AdderServer server = start(b -> b);
        // 65535 bytes to come, four times the most a record may hold, and some of them sent
        ByteBuffer header = ByteBuffer.allocate(5 + 20_000).put(new byte[] {afterTheHandshake ? (byte) 23 : (byte) 22, 3,
            3, (byte) 0xff, (byte) 0xff});
        header.position(header.capacity()).flip();
        SocketChannel socket;
        if (afterTheHandshake) {
            RawClient attacker = RawClient.connect(address(server));
            clients.add(attacker);
            assertEquals(3, attacker.add(1, 2));
            socket = (SocketChannel) TlsSocketChannel.socket(attacker.channel);
        } else {
            socket = plain(address(server));
        }
        try {
            while (header.hasRemaining()) {
                socket.write(header);
            }
        } catch (IOException closedByTheServer) {
            // it may close before all is written
        }
        readToEnd(socket);
        assertCostsNothing(server);
    }

    @Test
    void closeNotifyThenReadingGetsEveryAnswerThenTheServersCloseNotify() throws Exception {
        AdderServer server = start(b -> b);
        RawClient client = RawClient.connect(address(server));
        clients.add(client);
        long[] xs = new long[3000];
        long[] ys = new long[3000];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = i;
            ys[i] = -2L * i;
        }
        client.write(RawClient.requests(xs, ys));
        client.channel.shutdownOutput(); // close_notify, then FIN
        for (int i = 0; i < xs.length; i++) {
            assertEquals(-i, client.read());
        }
        assertTrue(client.readsEndOfStream());
        assertTrue(((TlsSocketChannel) client.channel).engine().isInboundDone(), "the server ended with close_notify");
        assertCostsNothing(server);
    }

    @Test
    void underTls12ACloseNotifyEndsBothDirectionsAndTheConnectionClosesCleanly() throws Exception {
        AdderServer server = start(b -> b);
        SocketChannel socket = SocketChannel.open(new InetSocketAddress("127.0.0.1", address(server).port()));
        RawClient client = RawClient.wrap(TlsSocketChannel.over(socket, tls.clientTrustingCa(), "127.0.0.1", "TLSv1.2"));
        clients.add(client);
        assertEquals(17, client.add(7, 10));
        // TLS 1.2 has no half-close (RFC 5246, 7.2.1): the server answers close_notify with its own and closes
        client.channel.shutdownOutput();
        assertTrue(client.readsEndOfStream());
        await().atMost(Duration.ofSeconds(30)).until(() -> server.stats().openConnections() == 0);
        assertCostsNothing(server);
    }
}
