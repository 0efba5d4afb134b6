package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.tls.TlsFiles;
import dev.adder.testing.TestTls;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Certificates replaced while the server runs: new handshakes get the new ones, connections made
 * stay as they are; files that cannot be used leave the ones in use, with a one-line reason that
 * names the file.
 */
@Timeout(60)
class TlsReloadTest {

    @TempDir
    Path dir;

    private TestTls tls;
    /** The files the server was told to read: the test replaces what they hold. */
    private Path chain;
    private Path key;
    private final List<AutoCloseable> opened = new ArrayList<>();

    @BeforeEach
    void liveFiles() throws IOException {
        tls = TestTls.in(dir);
        chain = dir.resolve("live.pem");
        key = dir.resolve("live.key");
        replace(tls.serverCert(), tls.serverKey());
    }

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable closeable : opened) {
            closeable.close();
        }
    }

    private void replace(Path newChain, Path newKey) throws IOException {
        Files.copy(newChain, chain, StandardCopyOption.REPLACE_EXISTING);
        Files.copy(newKey, key, StandardCopyOption.REPLACE_EXISTING);
    }

    private AdderServer start(AdderServer.Builder builder) throws IOException {
        AdderServer server = builder.listen(AdderAddress.tls("127.0.0.1", 0)).build();
        opened.add(server);
        server.start();
        return server;
    }

    private AdderServer startFromFiles() throws IOException {
        return start(AdderServer.builder().tls(chain, key));
    }

    private SSLSocket connect(AdderServer server, SSLContext context) throws IOException {
        SSLSocket socket = TestTls.connect(context, server.addresses().get(0));
        socket.setSoTimeout(30_000);
        opened.add(socket);
        return socket;
    }

    /** The certificate the server presented on {@code socket}, after a sum that shows it serves there. */
    private static X509Certificate presented(SSLSocket socket) throws IOException {
        assertEquals(17, TlsServingTest.add(socket, 7, 10));
        return (X509Certificate) socket.getSession().getPeerCertificates()[0];
    }

    private X509Certificate certificateOf(String file) throws IOException {
        return TlsFiles.certificates(tls.file(file)).get(0);
    }

    @Test
    void afterAReloadNewHandshakesGetTheNewCertificateAndConnectionsMadeStay() throws IOException {
        AdderServer server = startFromFiles();
        SSLSocket before = connect(server, tls.clientTrustingCa());
        assertEquals(certificateOf("server.pem"), presented(before));

        replace(tls.file("server2.pem"), tls.file("server2.key"));
        server.reloadTls();

        SSLSocket after = connect(server, tls.clientTrustingCa());
        assertEquals(certificateOf("server2.pem"), presented(after));
        // the connection made before goes on, in the session it began
        assertEquals(certificateOf("server.pem"), presented(before));
        assertEquals(2, server.stats().openConnections());
    }

    /** How a replacement can be broken: the file at fault, and what it then holds. */
    @ParameterizedTest
    @ValueSource(strings = {"key missing", "chain empty", "key of another certificate", "key in PKCS#1",
        "chain not PEM", "key encrypted"})
    void aBrokenReplacementKeepsTheKeysInUseAndSaysWhichFileInOneLine(String broken) throws IOException {
        AdderServer server = startFromFiles();
        Path atFault;
        switch (broken) {
            case "key missing" -> {
                Files.delete(key);
                atFault = key;
            }
            case "chain empty" -> {
                Files.writeString(chain, "");
                atFault = chain;
            }
            case "key of another certificate" -> {
                Files.copy(tls.file("server2.key"), key, StandardCopyOption.REPLACE_EXISTING);
                atFault = key;
            }
            case "key in PKCS#1" -> {
                Files.copy(tls.file("server-pkcs1.key"), key, StandardCopyOption.REPLACE_EXISTING);
                atFault = key;
            }
            case "chain not PEM" -> {
                Files.writeString(chain, "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n");
                atFault = chain;
            }
            case "key encrypted" -> {
                Files.writeString(key, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
                atFault = key;
            }
            default -> throw new IllegalArgumentException(broken);
        }
        IOException e = assertThrows(IOException.class, server::reloadTls);
        assertTrue(e.getMessage().contains(atFault.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "more than one line: " + e.getMessage());
        assertEquals(certificateOf("server.pem"), presented(connect(server, tls.clientTrustingCa())));
        assertTrue(server.isRunning());
    }

    @Test
    void aReloadWithAContextReplacesWhatNewHandshakesUse() throws IOException {
        AdderServer server = start(AdderServer.builder().tls(TlsFiles.context(tls.serverCert(), tls.serverKey(), null)));
        SSLSocket before = connect(server, tls.clientTrustingCa());
        assertEquals(certificateOf("server.pem"), presented(before));
        server.reloadTls(TlsFiles.context(tls.file("server2.pem"), tls.file("server2.key"), null));
        assertEquals(certificateOf("server2.pem"), presented(connect(server, tls.clientTrustingCa())));
        assertEquals(certificateOf("server.pem"), presented(before));
        // a context given has no files to read again
        assertThrows(IllegalStateException.class, server::reloadTls);
    }

    @Test
    void aServerFromFilesTakesAContextToo() throws IOException {
        AdderServer server = startFromFiles();
        server.reloadTls(TlsFiles.context(tls.file("server2.pem"), tls.file("server2.key"), null));
        assertEquals(certificateOf("server2.pem"), presented(connect(server, tls.clientTrustingCa())));
    }

    @Test
    void aKeyStoreIsReadAgainAtAReload() throws IOException {
        Path store = dir.resolve("live.p12");
        Files.copy(tls.serverKeyStore(), store);
        AdderServer server = start(AdderServer.builder().tlsKeyStore(store, TestTls.KEY_STORE_PASSWORD.toCharArray()));
        assertEquals(certificateOf("server.pem"), presented(connect(server, tls.clientTrustingCa())));
        Files.writeString(store, "not a keystore");
        IOException e = assertThrows(IOException.class, server::reloadTls);
        assertTrue(e.getMessage().startsWith("cannot read the PKCS#12 keystore " + store + ": "), e.getMessage());
        assertEquals(certificateOf("server.pem"), presented(connect(server, tls.clientTrustingCa())));
    }

    @Test
    void theClientCaIsReadAgainAtAReload() throws IOException {
        Path clientCa = dir.resolve("clients.pem");
        Files.copy(tls.ca(), clientCa);
        AdderServer server = start(AdderServer.builder().tls(chain, key).tlsClientCa(clientCa));
        assertEquals(certificateOf("server.pem"), presented(connect(server, tls.clientWithCertificate())));
        // from now on the clients the other CA signed are admitted, and only they
        Files.copy(tls.file("other-ca.pem"), clientCa, StandardCopyOption.REPLACE_EXISTING);
        server.reloadTls();
        assertEquals(certificateOf("server.pem"), presented(connect(server, tls.clientWithUntrustedCertificate())));
        SSLSocket refused = connect(server, tls.clientWithCertificate());
        assertThrows(IOException.class, () -> TlsServingTest.add(refused, 7, 10));
    }

    @Test
    void aReloadNeedsARunningServerWithATlsListener() throws IOException {
        AdderServer notStarted = AdderServer.builder().listen(AdderAddress.tls("127.0.0.1", 0)).tls(chain, key).build();
        assertEquals("the server is not running", assertThrows(IllegalStateException.class, notStarted::reloadTls)
                .getMessage());
        try (AdderServer plain = AdderServer.builder().listen("tcp:127.0.0.1:0").build()) {
            plain.start();
            assertEquals("the server has no tls: listener", assertThrows(IllegalStateException.class, plain::reloadTls)
                    .getMessage());
        }
        AdderServer closed = startFromFiles();
        closed.close();
        assertThrows(IllegalStateException.class, closed::reloadTls);
    }
}
