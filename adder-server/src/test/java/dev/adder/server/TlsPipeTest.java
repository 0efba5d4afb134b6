package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.tls.TlsBuffers;
import dev.adder.core.tls.TlsFiles;
import dev.adder.core.tls.TlsPipe;
import dev.adder.testing.TestTls;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The server's {@link TlsPipe} alone, against a JDK client engine, over a channel in memory whose
 * reads give exactly the pieces the test says: records cut at every byte, records together,
 * records left behind by a handshake's task, records that cannot be.
 */
@Timeout(60)
class TlsPipeTest {

    private static final AtomicInteger ports = new AtomicInteger();
    private static SSLContext serverContext;
    private static SSLContext clientContext;

    @BeforeAll
    static void contexts(@TempDir Path dir) throws IOException {
        TestTls tls = TestTls.in(dir);
        serverContext = TlsFiles.context(tls.serverCert(), tls.serverKey(), tls.ca());
        clientContext = tls.clientWithCertificate();
    }

    /** The server's socket, in memory: each read gives at most the next piece fed; writes are kept. */
    private static final class Wire implements ByteChannel {
        final ArrayDeque<byte[]> pieces = new ArrayDeque<>();
        final ByteArrayOutputStream written = new ByteArrayOutputStream();
        boolean ended;

        void feed(byte[] bytes) {
            if (bytes.length > 0) {
                pieces.add(bytes);
            }
        }

        @Override
        public int read(ByteBuffer dst) {
            byte[] next = pieces.poll();
            if (next == null) {
                return ended ? -1 : 0;
            }
            int n = Math.min(next.length, dst.remaining());
            dst.put(next, 0, n);
            if (n < next.length) {
                pieces.addFirst(Arrays.copyOfRange(next, n, next.length));
            }
            return n;
        }

        @Override
        public int write(ByteBuffer src) {
            int n = src.remaining();
            byte[] bytes = new byte[n];
            src.get(bytes);
            written.write(bytes, 0, n);
            return n;
        }

        /** What the server wrote since the last take. */
        byte[] take() {
            byte[] bytes = written.toByteArray();
            written.reset();
            return bytes;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    /** One session: the server's pipe over a wire, the client's engine driven by hand. */
    private static final class Session {
        final Wire wire = new Wire();
        final SSLEngine client;
        final TlsPipe server;
        /** Tasks the pipe handed over, to be run when the test says. */
        final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
        final ByteBuffer plain = ByteBuffer.allocate(Connections.READ_BUFFER_BYTES);
        /** What the server wrote that the client has not taken yet. */
        ByteBuffer fromServer = ByteBuffer.allocate(0);

        Session(boolean tasksLater) throws IOException {
            // a port of its own: the client's sessions are cached by host and port, and a resumed one
            // would skip the client's certificate, whose checking is the task some tests need
            client = clientContext.createSSLEngine("localhost", ports.incrementAndGet());
            client.setUseClientMode(true);
            SSLEngine serverEngine = serverContext.createSSLEngine();
            serverEngine.setUseClientMode(false);
            serverEngine.setNeedClientAuth(true);
            Executor executor = tasksLater ? tasks::add : null;
            server = new TlsPipe(serverEngine, wire, new TlsBuffers(), executor, () -> { });
        }

        /** The client's records for what its handshake (or {@code data}) has to send now. */
        byte[] clientWraps(ByteBuffer data) throws SSLException {
            ByteArrayOutputStream records = new ByteArrayOutputStream();
            ByteBuffer out = ByteBuffer.allocate(client.getSession().getPacketBufferSize());
            do {
                runClientTasks();
                out.clear();
                SSLEngineResult result = client.wrap(data, out);
                records.write(out.array(), 0, out.position());
                if (result.bytesProduced() == 0) {
                    break;
                }
            } while (data.hasRemaining() || client.getHandshakeStatus() == HandshakeStatus.NEED_WRAP);
            return records.toByteArray();
        }

        /**
         * The client takes in what the server wrote, as far as it can before it has to write (what it
         * cannot take yet waits for the next call); returns the plain bytes in it.
         */
        byte[] clientUnwraps() throws SSLException {
            byte[] taken = wire.take();
            ByteBuffer in = ByteBuffer.allocate(fromServer.remaining() + taken.length).put(fromServer).put(taken).flip();
            ByteBuffer out = ByteBuffer.allocate(1 << 20);
            while (in.hasRemaining()) {
                SSLEngineResult result = client.unwrap(in, out);
                runClientTasks();
                if (result.getStatus() != SSLEngineResult.Status.OK || result.bytesConsumed() == 0) {
                    break;
                }
            }
            fromServer = in;
            return Arrays.copyOf(out.array(), out.position());
        }

        private void runClientTasks() {
            for (Runnable task = client.getDelegatedTask(); task != null; task = client.getDelegatedTask()) {
                task.run();
            }
        }

        /** Reads what the wire holds into the pipe, running its tasks, until a read gives nothing more. */
        byte[] serverReads() throws IOException {
            return serverReads(false);
        }

        /**
         * As {@link #serverReads()}; {@code leastRoom}: each read with only the room the pipe asks for,
         * as a connection over the server's budget of held answers reads.
         */
        byte[] serverReads(boolean leastRoom) throws IOException {
            plain.clear();
            while (true) {
                ByteBuffer into = plain;
                if (leastRoom) {
                    into = plain.slice(plain.position(), server.smallestRead());
                }
                int n = server.read(into);
                if (leastRoom && n > 0) {
                    plain.position(plain.position() + n);
                }
                if (!tasks.isEmpty()) {
                    runServerTasks();
                    continue;
                }
                if (n <= 0 && wire.pieces.isEmpty()) {
                    break;
                }
            }
            plain.flip();
            byte[] bytes = new byte[plain.remaining()];
            plain.get(bytes);
            return bytes;
        }

        int serverTaskRounds;

        void runServerTasks() {
            serverTaskRounds++;
            for (Runnable task = tasks.poll(); task != null; task = tasks.poll()) {
                task.run();
            }
            server.resume();
        }

        /** Handshakes until both sides are done, each flight of the client fed whole. */
        void handshake() throws IOException {
            for (int flight = 0; flight < 10 && !(server.isEstablished()
                    && client.getHandshakeStatus() == HandshakeStatus.NOT_HANDSHAKING); flight++) {
                wire.feed(clientWraps(ByteBuffer.allocate(0)));
                serverReads();
                clientUnwraps();
            }
            assertTrue(server.isEstablished(), "the handshake did not finish");
        }
    }

    private static byte[] requests(int count, int first) {
        ByteBuffer bytes = ByteBuffer.allocate(count * 16);
        for (int i = 0; i < count; i++) {
            dev.adder.core.Protocol.encodeRequest(bytes, first + i, 1);
        }
        return bytes.array();
    }

    @Test
    void aRecordCutOnTheWireAtEveryByteIsReadWholeOnceItsLastByteComes() throws IOException {
        Session session = new Session(false);
        session.handshake();
        // every cut from after the first byte to before the last, each on a record of its own (all of one length)
        for (int cut = 1, request = 0; ; cut++, request++) {
            byte[] plain = requests(2, request);
            byte[] record = session.clientWraps(ByteBuffer.wrap(plain));
            if (cut >= record.length) {
                assertTrue(cut > 40, "a record of two requests is " + record.length + " bytes");
                break;
            }
            session.wire.feed(Arrays.copyOfRange(record, 0, cut));
            assertEquals(0, session.serverReads().length, "a part of a record gives nothing");
            session.wire.feed(Arrays.copyOfRange(record, cut, record.length));
            assertArrayEquals(plain, session.serverReads(), "cut at " + cut);
        }
    }

    @Test
    void aRecordFedOneByteAtATimeIsReadWholeAtItsLastByte() throws IOException {
        Session session = new Session(false);
        session.handshake();
        byte[] plain = requests(3, 7);
        byte[] record = session.clientWraps(ByteBuffer.wrap(plain));
        for (int i = 0; i < record.length - 1; i++) {
            session.wire.feed(new byte[] {record[i]});
            assertEquals(0, session.serverReads().length);
        }
        session.wire.feed(new byte[] {record[record.length - 1]});
        assertArrayEquals(plain, session.serverReads());
    }

    @Test
    void manyRecordsAndPartOfTheNextInOneReadGiveTheWholeOnesAndKeepThePart() throws IOException {
        Session session = new Session(false);
        session.handshake();
        ByteArrayOutputStream records = new ByteArrayOutputStream();
        ByteArrayOutputStream plain = new ByteArrayOutputStream();
        for (int i = 0; i < 10; i++) {
            byte[] bytes = requests(100, i * 100);
            plain.write(bytes, 0, bytes.length);
            byte[] record = session.clientWraps(ByteBuffer.wrap(bytes));
            records.write(record, 0, record.length);
        }
        byte[] last = requests(1, 1000);
        byte[] lastRecord = session.clientWraps(ByteBuffer.wrap(last));
        records.write(lastRecord, 0, 10);
        session.wire.feed(records.toByteArray());
        assertArrayEquals(plain.toByteArray(), session.serverReads());
        session.wire.feed(Arrays.copyOfRange(lastRecord, 10, lastRecord.length));
        assertArrayEquals(last, session.serverReads());
    }

    /**
     * A TLS 1.3 client may send requests right behind its Finished; when they come in the read that
     * brings the Finished, the server's engine stops for a task with them still to unwrap: more than a
     * record's worth here (a pipelining client's first 32 KiB), which the pipe must keep whole.
     */
    @ParameterizedTest(name = "reads of the least room: {0}")
    @ValueSource(booleans = {false, true})
    void recordsThatCameWithTheClientsLastHandshakeFlightAreKeptWhileItsTaskRuns(boolean leastRoom) throws IOException {
        Session session = new Session(true);
        session.wire.feed(session.clientWraps(ByteBuffer.allocate(0))); // ClientHello
        session.serverReads();
        // ServerHello ... Finished in, and the client's last flight out (Certificate, CertificateVerify, Finished):
        // the client's side of the handshake is done, the server's not until it reads that flight
        ByteArrayOutputStream last = new ByteArrayOutputStream();
        for (int i = 0; i < 10 && session.client.getHandshakeStatus() != HandshakeStatus.NOT_HANDSHAKING; i++) {
            session.clientUnwraps();
            last.writeBytes(session.clientWraps(ByteBuffer.allocate(0)));
        }
        byte[] flight = last.toByteArray();
        byte[] plain = requests(2048, 0); // 32 KiB: two records' worth
        byte[] data = session.clientWraps(ByteBuffer.wrap(plain));
        byte[] together = Arrays.copyOf(flight, flight.length + data.length);
        System.arraycopy(data, 0, together, flight.length, data.length);
        session.wire.feed(together);
        int rounds = session.serverTaskRounds;
        assertArrayEquals(plain, session.serverReads(leastRoom));
        assertTrue(session.serverTaskRounds > rounds, "no task stopped the reading: the case is not made");
        assertTrue(session.server.isEstablished());
    }

    @Test
    void aRecordHeaderClaimingMoreThanARecordMayHoldIsATlsFailure() throws IOException {
        Session session = new Session(false);
        session.handshake();
        byte[] hostile = new byte[5 + 20_000];
        hostile[0] = 23;
        hostile[1] = 3;
        hostile[2] = 3;
        hostile[3] = (byte) 0xff;
        hostile[4] = (byte) 0xff;
        session.wire.feed(hostile);
        assertThrows(SSLException.class, session::serverReads);
    }

    @Test
    void garbageBeforeTheHandshakeIsATlsFailure() throws IOException {
        Session session = new Session(false);
        session.wire.feed(RawClient.request(7, 10));
        assertThrows(SSLException.class, session::serverReads);
    }
}
