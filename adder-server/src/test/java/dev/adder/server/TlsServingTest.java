package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.TestTls;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The server over TLS, as a JDK client sees it. */
class TlsServingTest {

    @TempDir
    Path dir;

    private AdderServer start(TestTls tls, boolean mutual) throws IOException {
        AdderServer.Builder builder = AdderServer.builder().listen(AdderAddress.tls("127.0.0.1", 0))
                .tls(tls.serverCert(), tls.serverKey());
        if (mutual) {
            builder.tlsClientCa(tls.ca());
        }
        AdderServer server = builder.build();
        server.start();
        return server;
    }

    static long add(SSLSocket socket, long x, long y) throws IOException {
        ByteBuffer request = ByteBuffer.allocate(Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
        Protocol.encodeRequest(request, x, y);
        OutputStream out = socket.getOutputStream();
        out.write(request.array());
        out.flush();
        byte[] answer = new byte[Protocol.RESPONSE_BYTES];
        new DataInputStream(socket.getInputStream()).readFully(answer);
        return Protocol.decodeResponse(ByteBuffer.wrap(answer).order(Protocol.BYTE_ORDER));
    }

    @Test
    void aTlsClientGetsSeventeen() throws IOException {
        TestTls tls = TestTls.in(dir);
        try (AdderServer server = start(tls, false);
             SSLSocket socket = TestTls.connect(tls.clientTrustingCa(), server.addresses().get(0))) {
            assertEquals(17, add(socket, 7, 10));
            assertEquals(-1, add(socket, Long.MAX_VALUE, Long.MIN_VALUE));
            assertEquals("TLSv1.3", socket.getSession().getProtocol());
        }
    }

    @Test
    void tls12IsServedToo() throws IOException {
        TestTls tls = TestTls.in(dir);
        try (AdderServer server = start(tls, false);
             SSLSocket socket = TestTls.connect(tls.clientTrustingCa(), server.addresses().get(0), "TLSv1.2")) {
            assertEquals(17, add(socket, 7, 10));
            assertEquals("TLSv1.2", socket.getSession().getProtocol());
        }
    }

    @Test
    void manyPipelinedRequestsAreAnsweredInOrder() throws Exception {
        TestTls tls = TestTls.in(dir);
        int count = 200_000;
        try (AdderServer server = start(tls, false);
             SSLSocket socket = TestTls.connect(tls.clientTrustingCa(), server.addresses().get(0))) {
            Thread writer = new Thread(() -> {
                try {
                    OutputStream out = socket.getOutputStream();
                    ByteBuffer batch = ByteBuffer.allocate(1000 * Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
                    for (int i = 0; i < count; i += 1000) {
                        batch.clear();
                        for (int j = i; j < i + 1000; j++) {
                            Protocol.encodeRequest(batch, j, 1);
                        }
                        out.write(batch.array(), 0, batch.position());
                    }
                    out.flush();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            writer.start();
            DataInputStream in = new DataInputStream(socket.getInputStream());
            byte[] answer = new byte[Protocol.RESPONSE_BYTES];
            for (int i = 0; i < count; i++) {
                in.readFully(answer);
                assertEquals(i + 1, Protocol.decodeResponse(ByteBuffer.wrap(answer).order(Protocol.BYTE_ORDER)));
            }
            writer.join();
        }
    }

    @Test
    void mutualTlsAdmitsTheCasClientAndRefusesOthers() throws IOException {
        TestTls tls = TestTls.in(dir);
        try (AdderServer server = start(tls, true)) {
            AdderAddress address = server.addresses().get(0);
            try (SSLSocket socket = TestTls.connect(tls.clientWithCertificate(), address)) {
                assertEquals(17, add(socket, 7, 10));
            }
            try (SSLSocket socket = TestTls.connect(tls.clientTrustingCa(), address)) {
                assertThrows(IOException.class, () -> add(socket, 7, 10));
            }
            try (SSLSocket socket = TestTls.connect(tls.clientWithUntrustedCertificate(), address)) {
                assertThrows(IOException.class, () -> add(socket, 7, 10));
            }
        }
    }

    @Test
    void aHandshakeIsNotIdleTimeAndTheIdleTimeoutCountsFromItsEnd() throws IOException {
        TestTls tls = TestTls.in(dir);
        try (AdderServer server = AdderServer.builder().listen(AdderAddress.tls("127.0.0.1", 0))
                .tls(tls.serverCert(), tls.serverKey()).idleTimeout(Duration.ofMillis(200))
                .handshakeTimeout(Duration.ofMinutes(1)).build()) {
            server.start();
            int port = server.addresses().get(0).port();
            try (Socket plain = new Socket("127.0.0.1", port)) {
                await().atMost(Duration.ofSeconds(30)).until(() -> server.stats().openConnections() == 1);
                // a slow handshake (a client far away, a loaded machine): far longer than the idle timeout
                await().during(Duration.ofMillis(1000)).atMost(Duration.ofSeconds(30))
                        .until(() -> server.stats().openConnections() == 1);
                SSLSocket socket = (SSLSocket) tls.clientTrustingCa().getSocketFactory()
                        .createSocket(plain, "127.0.0.1", port, true);
                assertEquals(17, add(socket, 7, 10));
            }
        }
    }

    @Test
    void halfCloseGetsTheAnswersThenTheEnd() throws IOException {
        TestTls tls = TestTls.in(dir);
        try (AdderServer server = start(tls, false);
             SSLSocket socket = TestTls.connect(tls.clientTrustingCa(), server.addresses().get(0))) {
            assertEquals(3, add(socket, 1, 2));
            ByteBuffer requests = ByteBuffer.allocate(100 * Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
            for (int i = 0; i < 100; i++) {
                Protocol.encodeRequest(requests, i, i);
            }
            socket.getOutputStream().write(requests.array());
            socket.shutdownOutput();
            InputStream in = socket.getInputStream();
            DataInputStream data = new DataInputStream(in);
            byte[] answer = new byte[Protocol.RESPONSE_BYTES];
            for (int i = 0; i < 100; i++) {
                data.readFully(answer);
                assertEquals(2L * i, Protocol.decodeResponse(ByteBuffer.wrap(answer).order(Protocol.BYTE_ORDER)));
            }
            assertEquals(-1, in.read());
        }
    }
}
