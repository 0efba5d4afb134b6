package dev.adder.core.tls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.SelectionKey;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Executor;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two pipes, client and server, over in-memory channels the test moves bytes between by hand: every
 * byte split of the records, a socket that takes a few bytes at a time or none, tasks run later,
 * and the failures a socket cannot easily be made to show.
 */
class TlsPipeTest {

    @TempDir
    static Path keys;

    private static SSLContext server;
    private static SSLContext client;

    /** A self-signed certificate for localhost, made by the JDK's keytool. */
    @BeforeAll
    static void makeKeys() throws Exception {
        Path store = keys.resolve("server.p12");
        Path cert = keys.resolve("server.pem");
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        run(keytool, "-genkeypair", "-alias", "server", "-keyalg", "EC", "-groupname", "secp256r1",
                "-dname", "CN=localhost", "-ext", "san=dns:localhost", "-validity", "2",
                "-storetype", "PKCS12", "-keystore", store.toString(), "-storepass", "secret");
        run(keytool, "-exportcert", "-rfc", "-alias", "server", "-keystore", store.toString(),
                "-storepass", "secret", "-file", cert.toString());
        server = TlsFiles.keyStoreContext(store, "secret".toCharArray(), null);
        client = TlsFiles.trustContext(cert);
    }

    private static void run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        assertEquals(0, process.waitFor(), output);
    }

    /** One side's socket: what the peer sent waits in {@code incoming}; a write takes at most {@code takes} bytes. */
    static final class Channel implements ByteChannel {
        final ByteArrayOutputStream written = new ByteArrayOutputStream();
        ByteBuffer incoming = ByteBuffer.allocate(0);
        int takes = Integer.MAX_VALUE;
        boolean ended;

        @Override
        public int read(ByteBuffer dst) {
            if (!incoming.hasRemaining()) {
                return ended ? -1 : 0;
            }
            int n = Math.min(dst.remaining(), incoming.remaining());
            ByteBuffer slice = incoming.slice().limit(n);
            dst.put(slice);
            incoming.position(incoming.position() + n);
            return n;
        }

        @Override
        public int write(ByteBuffer src) {
            int n = Math.min(src.remaining(), takes);
            byte[] bytes = new byte[n];
            src.get(bytes);
            written.write(bytes, 0, n);
            return n;
        }

        /** Gives the peer what was written, {@code split} bytes at a time appended to what it has not read. */
        byte[] drain() {
            byte[] bytes = written.toByteArray();
            written.reset();
            return bytes;
        }

        void receive(byte[] bytes) {
            ByteBuffer joined = ByteBuffer.allocate(incoming.remaining() + bytes.length);
            joined.put(incoming).put(bytes).flip();
            incoming = joined;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    /** A client and a server pipe, and the means to move bytes and drive them. */
    static final class Pair {
        final Channel clientSocket = new Channel();
        final Channel serverSocket = new Channel();
        final TlsPipe clientPipe;
        final TlsPipe serverPipe;
        final ByteBuffer clientIn = ByteBuffer.allocate(64 * 1024);
        final ByteBuffer serverIn = ByteBuffer.allocate(64 * 1024);
        final List<Runnable> later = new ArrayList<>();
        int tasksDone;

        Pair(String protocol, boolean tasksLater) throws SSLException {
            SSLEngine clientEngine = client.createSSLEngine("localhost", 7443);
            clientEngine.setUseClientMode(true);
            SSLParameters parameters = clientEngine.getSSLParameters();
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
            parameters.setProtocols(new String[] {protocol});
            clientEngine.setSSLParameters(parameters);
            SSLEngine serverEngine = server.createSSLEngine();
            serverEngine.setUseClientMode(false);
            Executor executor = tasksLater ? later::add : null;
            clientPipe = new TlsPipe(clientEngine, clientSocket, new TlsBuffers(), null, null);
            serverPipe = new TlsPipe(serverEngine, serverSocket, new TlsBuffers(), executor, () -> tasksDone++);
        }

        /** Moves bytes both ways, {@code split} at a time, driving both pipes, until neither has anything to do. */
        void pump(int split) throws IOException {
            for (int round = 0; round < 100_000; round++) {
                runLater();
                byte[] toServer = clientSocket.drain();
                byte[] toClient = serverSocket.drain();
                boolean moved = toServer.length > 0 || toClient.length > 0;
                deliver(toServer, serverSocket, serverPipe, serverIn, split);
                deliver(toClient, clientSocket, clientPipe, clientIn, split);
                moved |= clientPipe.read(clientIn) > 0 | serverPipe.read(serverIn) > 0;
                clientPipe.flush();
                serverPipe.flush();
                if (!moved && clientSocket.written.size() == 0 && serverSocket.written.size() == 0 && later.isEmpty()) {
                    return;
                }
            }
            throw new AssertionError("the pipes never settled");
        }

        private static void deliver(byte[] bytes, Channel to, TlsPipe pipe, ByteBuffer plain, int split)
                throws IOException {
            for (int i = 0; i < bytes.length; i += split) {
                to.receive(java.util.Arrays.copyOfRange(bytes, i, Math.min(bytes.length, i + split)));
                pipe.read(plain);
            }
        }

        void runLater() {
            while (!later.isEmpty()) {
                later.remove(0).run();
                serverPipe.resume();
            }
        }
    }

    private static byte[] bytes(int count, long seed) {
        byte[] bytes = new byte[count];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private static byte[] taken(ByteBuffer plain) {
        plain.flip();
        byte[] bytes = new byte[plain.remaining()];
        plain.get(bytes);
        plain.clear();
        return bytes;
    }

    @Test
    void aHandshakeAndDataSurviveEveryByteSplit() throws IOException {
        for (String protocol : new String[] {"TLSv1.3", "TLSv1.2"}) {
            for (int split : new int[] {1, 2, 7, 100, 1000, 1 << 20}) {
                Pair pair = new Pair(protocol, split % 2 == 1);
                pair.pump(split);
                assertTrue(pair.clientPipe.isEstablished() && pair.serverPipe.isEstablished(), protocol + " " + split);
                byte[] request = bytes(split < 10 ? 3_000 : 50_000, split);
                assertEquals(request.length, pair.clientPipe.write(ByteBuffer.wrap(request)));
                pair.pump(split);
                assertArrayEquals(request, taken(pair.serverIn), protocol + " split " + split);
            }
        }
    }

    @Test
    void tasksRunLaterHoldThePipeUntilResumed() throws IOException {
        Pair pair = new Pair("TLSv1.3", true);
        byte[] hello = null;
        pair.clientPipe.read(pair.clientIn); // the ClientHello
        hello = pair.clientSocket.drain();
        pair.serverSocket.receive(hello);
        assertEquals(0, pair.serverPipe.read(pair.serverIn));
        assertFalse(pair.later.isEmpty(), "the server's costly step is left to its executor");
        assertEquals(0, pair.serverPipe.interestOps(SelectionKey.OP_READ), "no readiness while its tasks run");
        assertEquals(0, pair.serverPipe.read(pair.serverIn), "nothing done while its tasks run");
        assertEquals(0, pair.serverSocket.written.size());
        pair.pump(1 << 20);
        assertTrue(pair.serverPipe.isEstablished());
        assertTrue(pair.tasksDone > 0);
    }

    @Test
    void aSocketThatTakesLittleOrNothingHoldsTheRecordsUntilItTakesThem() throws IOException {
        Pair pair = new Pair("TLSv1.3", false);
        pair.pump(1 << 20);
        byte[] answers = bytes(40_000, 7);
        pair.serverSocket.takes = 0;
        ByteBuffer source = ByteBuffer.wrap(answers);
        long taken = pair.serverPipe.write(new ByteBuffer[] {source}, 0, 1);
        assertTrue(taken > 0, "the plain bytes are taken as records");
        assertEquals(SelectionKey.OP_WRITE | SelectionKey.OP_READ, pair.serverPipe.interestOps(SelectionKey.OP_READ));
        int held = pair.serverPipe.unsentBytes();
        assertTrue(held > taken, "records are longer than what they carry");
        assertEquals(0, pair.serverPipe.write(new ByteBuffer[] {source}, 0, 1), "nothing more while records wait");
        pair.serverSocket.takes = 10;
        assertFalse(pair.serverPipe.flush());
        assertEquals(held - 10, pair.serverPipe.unsentBytes());
        pair.serverSocket.takes = Integer.MAX_VALUE;
        while (source.hasRemaining()) {
            pair.serverPipe.write(new ByteBuffer[] {source}, 0, 1);
        }
        assertTrue(pair.serverPipe.flush());
        assertEquals(SelectionKey.OP_READ, pair.serverPipe.interestOps(SelectionKey.OP_READ));
        pair.pump(1 << 20);
        assertArrayEquals(answers, taken(pair.clientIn));
    }

    @Test
    void anUnfinishedRecordLongerThanTheRoomLeftWaitsForTheRestOfIt() throws IOException {
        Pair pair = new Pair("TLSv1.3", false);
        pair.pump(1 << 20);
        byte[] data = bytes(3 * 16384 + 5000, 3); // three whole records and a short one
        pair.serverPipe.write(ByteBuffer.wrap(data));
        byte[] records = pair.serverSocket.drain();
        int firstRecord = 5 + ((records[3] & 0xff) << 8 | records[4] & 0xff);
        // a destination with room for one record and a little: the second record arrives cut
        ByteBuffer small = ByteBuffer.allocate(16384 + 600);
        pair.clientSocket.receive(java.util.Arrays.copyOf(records, firstRecord + 300));
        int first = pair.clientPipe.read(small);
        assertTrue(first > 0 && first <= 16384, "the whole record, not the cut one: " + first);
        byte[] got = taken(small);
        pair.clientSocket.receive(java.util.Arrays.copyOfRange(records, firstRecord + 300, records.length));
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.write(got, 0, got.length);
        for (int i = 0; i < 10 && all.size() < data.length; i++) {
            pair.clientPipe.read(small);
            byte[] more = taken(small);
            all.write(more, 0, more.length);
        }
        assertArrayEquals(data, all.toByteArray());
    }

    @Test
    void theEndOfTheStreamAndCloseNotifyEndTheInput() throws IOException {
        Pair pair = new Pair("TLSv1.3", false);
        pair.pump(1 << 20);
        pair.clientPipe.closeOutput();
        pair.serverSocket.receive(pair.clientSocket.drain());
        assertEquals(-1, pair.serverPipe.read(pair.serverIn), "close_notify");
        byte[] late = bytes(100, 1);
        pair.serverPipe.write(ByteBuffer.wrap(late)); // TLS 1.3: the other direction stays open
        pair.clientSocket.receive(pair.serverSocket.drain());
        assertEquals(100, pair.clientPipe.read(pair.clientIn));
        // the last requests and the close_notify in one read: the bytes, and the end seen with them
        Pair together = new Pair("TLSv1.3", false);
        together.pump(1 << 20);
        together.clientPipe.write(ByteBuffer.wrap(bytes(48, 2)));
        together.clientPipe.closeOutput();
        together.serverSocket.receive(together.clientSocket.drain());
        assertEquals(48, together.serverPipe.read(together.serverIn));
        assertTrue(together.serverPipe.inputEnded(), "no readiness will come again to say the end came");
        assertEquals(-1, together.serverPipe.read(together.serverIn));
        Pair cut = new Pair("TLSv1.3", false);
        cut.pump(1 << 20);
        cut.serverSocket.ended = true;
        assertEquals(-1, cut.serverPipe.read(cut.serverIn), "a stream cut without close_notify ends as a plain one");
    }

    @Test
    void garbageFailsTheReadAndAnswersWithAnAlert() throws IOException {
        Pair pair = new Pair("TLSv1.3", false);
        pair.pump(1 << 20);
        byte[] garbage = bytes(200, 9);
        garbage[0] = 23; // application data
        garbage[1] = 3;
        garbage[2] = 3;
        garbage[3] = 0;
        garbage[4] = (byte) 195;
        pair.serverSocket.receive(garbage);
        assertThrows(SSLException.class, () -> pair.serverPipe.read(pair.serverIn));
        assertTrue(pair.serverSocket.written.size() > 0, "the alert went out");
    }

    @Test
    void renegotiationIsRefusedUnderTls12() throws IOException {
        Pair pair = new Pair("TLSv1.2", false);
        pair.pump(1 << 20);
        SSLEngine engine = pair.clientPipe.engine(); // driven by hand: its own pipe would refuse to begin again
        engine.beginHandshake();
        ByteBuffer hello = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        engine.wrap(ByteBuffer.allocate(0), hello);
        hello.flip();
        byte[] bytes = new byte[hello.remaining()];
        hello.get(bytes);
        pair.serverSocket.receive(bytes);
        assertThrows(SSLException.class, () -> pair.serverPipe.read(pair.serverIn));
    }
}
