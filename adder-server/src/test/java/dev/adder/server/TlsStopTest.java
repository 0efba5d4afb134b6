package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.TestTls;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A stop while TLS handshakes are under way: clients stalled in the middle of their ClientHello,
 * clients handshaking one connection after another, and established clients whose requests wait
 * for their answers. The stop returns within its drain bound, the established clients get every
 * answer, and nothing is left: no connection, no held output, no TLS thread.
 */
@Timeout(180)
class TlsStopTest {

    private static final int REQUESTS = 1_000;
    private static final Duration DRAIN = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    @Test
    void aStopDuringHandshakesAnswersTheEstablishedClientsAndLeavesNothing() throws Exception {
        TestTls tls = TestTls.in(dir);
        SSLContext client = tls.clientTrustingCa();
        AdderServer server = AdderServer.builder().listen(AdderAddress.tls("127.0.0.1", 0))
                .tls(tls.serverCert(), tls.serverKey()).drainTimeout(DRAIN).maxHandshakes(16).build();
        server.start();
        AdderAddress address = server.addresses().get(0);
        List<AutoCloseable> clients = new ArrayList<>();
        ExecutorService pool = Executors.newCachedThreadPool();
        AtomicBoolean stopping = new AtomicBoolean();
        try {
            // established: each has sent REQUESTS requests and read none of the answers
            List<SSLSocket> established = new ArrayList<>();
            for (int c = 0; c < 4; c++) {
                SSLSocket socket = TestTls.connect(client, address);
                clients.add(socket);
                socket.startHandshake();
                established.add(socket);
            }
            for (int c = 0; c < established.size(); c++) {
                ByteBuffer requests = ByteBuffer.allocate(REQUESTS * Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
                for (int i = 0; i < REQUESTS; i++) {
                    Protocol.encodeRequest(requests, c, i);
                }
                OutputStream out = established.get(c).getOutputStream();
                out.write(requests.array());
                out.flush();
            }
            // stalled: a TLS handshake record's header and a few bytes of the ClientHello it announces
            for (int c = 0; c < 8; c++) {
                Socket stalled = new Socket(address.host(), address.port());
                clients.add(stalled);
                stalled.getOutputStream().write(new byte[] {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc});
                stalled.getOutputStream().flush();
            }
            // handshaking: new connections, one after another, until the server has stopped
            List<Future<?>> handshakers = new ArrayList<>();
            for (int h = 0; h < 4; h++) {
                handshakers.add(pool.submit(() -> {
                    while (!stopping.get()) {
                        try (SSLSocket socket = TestTls.connect(client, address)) {
                            socket.setSoTimeout(30_000);
                            socket.startHandshake();
                        } catch (IOException refusedOrClosedByTheStop) {
                            // expected once the stop begins
                        }
                    }
                    return null;
                }));
            }
            long answered = (long) REQUESTS * established.size();
            // every request read by the server (their answers may be written or held) before the stop
            await().atMost(Duration.ofSeconds(60)).until(() -> server.stats().requests() >= answered);

            assertTimeoutPreemptively(DRAIN.plusSeconds(30), server::close, "the stop outlasted its drain bound");
            stopping.set(true);

            for (int c = 0; c < established.size(); c++) {
                SSLSocket socket = established.get(c);
                socket.setSoTimeout(60_000);
                DataInputStream in = new DataInputStream(socket.getInputStream());
                byte[] answer = new byte[Protocol.RESPONSE_BYTES];
                for (int i = 0; i < REQUESTS; i++) {
                    in.readFully(answer);
                    assertEquals((long) c + i, Protocol.decodeResponse(ByteBuffer.wrap(answer).order(Protocol.BYTE_ORDER)),
                            "client " + c + ", answer " + i);
                }
                assertEquals(-1, in.read(), "client " + c + ": the connection ends after the answers");
            }
            for (Future<?> handshaker : handshakers) {
                handshaker.get(60, java.util.concurrent.TimeUnit.SECONDS);
            }
            assertEquals(0, server.stats().openConnections());
            assertEquals(0, server.stats().pendingOutput());
            await().atMost(Duration.ofSeconds(30)).until(() -> Thread.getAllStackTraces().keySet().stream()
                    .noneMatch(thread -> thread.getName().startsWith("adder-tls-")));
        } finally {
            stopping.set(true);
            for (AutoCloseable c : clients) {
                c.close();
            }
            server.close();
            pool.shutdownNow();
        }
    }
}
