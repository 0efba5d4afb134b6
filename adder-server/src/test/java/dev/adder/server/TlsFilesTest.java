package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.tls.TlsFiles;
import dev.adder.testing.TestTls;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * The loader's word on the files operators give it: each failure one line that names the file,
 * and for a key in another format, the command that converts it. The messages are the project's
 * own; where one ends with the JDK's reason, only the part before it is compared.
 */
class TlsFilesTest {

    @TempDir
    Path dir;

    private TestTls tls;

    @BeforeEach
    void certificates() {
        tls = TestTls.in(dir);
    }

    private static String failure(Executable load) {
        String message = assertThrows(IOException.class, load).getMessage();
        assertFalse(message.contains("\n") || message.contains("\r"), "more than one line: " + message);
        return message;
    }

    private Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    @Test
    void theTestFilesLoad() throws IOException {
        SSLContext pem = TlsFiles.context(tls.serverCert(), tls.serverKey(), tls.ca());
        SSLContext store = TlsFiles.keyStoreContext(tls.serverKeyStore(), TestTls.KEY_STORE_PASSWORD.toCharArray(), null);
        assertEquals("TLS", pem.getProtocol());
        assertEquals("TLS", store.getProtocol());
        // an RSA key as well as an EC one
        assertEquals("RSA", TlsFiles.privateKey(tls.file("server2.key")).getAlgorithm());
        assertEquals("EC", TlsFiles.privateKey(tls.serverKey()).getAlgorithm());
    }

    @Test
    void oneFileMayHoldTheKeyBesideTheChain() throws IOException {
        Path both = dir.resolve("both.pem"); // HAProxy's form: the key, then the certificates, in one file
        Files.writeString(both, Files.readString(tls.serverKey()) + Files.readString(tls.serverCert()));
        assertEquals(TlsFiles.certificates(tls.serverCert()), TlsFiles.certificates(both));
        TlsFiles.context(both, both, tls.ca());
    }

    @Test
    void aPkcs1KeyIsRefusedWithTheCommandThatConvertsIt() throws IOException {
        Path key = tls.file("server-pkcs1.key");
        assertEquals("the private key in " + key + " is not PKCS#8; convert it with: openssl pkcs8 -topk8 -nocrypt -in "
                + key + " -out " + key + ".pk8", failure(() -> TlsFiles.privateKey(key)));
        Path ec = write("ec.key", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n");
        assertTrue(failure(() -> TlsFiles.privateKey(ec)).startsWith("the private key in " + ec + " is not PKCS#8;"));
    }

    @Test
    void anEncryptedKeyIsRefusedWithTheCommandThatDecryptsIt() throws IOException {
        Path key = write("encrypted.key",
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        assertEquals("the private key in " + key + " is encrypted; store it unencrypted (readable by the server's user"
                + " alone) with: openssl pkcs8 -in " + key + " -out " + key + ".pk8", failure(() -> TlsFiles.privateKey(key)));
    }

    @Test
    void aMissingFileIsNamedWithWhatItWasToHold() {
        Path missing = dir.resolve("missing.pem");
        assertEquals("cannot read the certificates file " + missing + ": no such file",
                failure(() -> TlsFiles.context(missing, tls.serverKey(), null)));
        assertEquals("cannot read the private key file " + missing + ": no such file",
                failure(() -> TlsFiles.context(tls.serverCert(), missing, null)));
        // the client CA's file, named alone: the key and the chain are not at fault
        assertEquals("cannot read the certificates file " + missing + ": no such file",
                failure(() -> TlsFiles.context(tls.serverCert(), tls.serverKey(), missing)));
        assertEquals("cannot read the certificates file " + missing + ": no such file",
                failure(() -> TlsFiles.keyStoreContext(tls.serverKeyStore(), TestTls.KEY_STORE_PASSWORD.toCharArray(),
                        missing)));
        assertEquals("cannot read the certificates file " + missing + ": no such file",
                failure(() -> TlsFiles.trustContext(missing)));
        assertTrue(failure(() -> TlsFiles.keyStoreContext(missing, new char[0], null))
                .startsWith("cannot read the PKCS#12 keystore " + missing + ": "));
    }

    @Test
    void aKeyThatIsNotTheCertificatesIsRefusedNamingBothFiles() {
        Path key = tls.file("server2.key");
        assertEquals("the private key in " + key + " is not the key of the first certificate in " + tls.serverCert()
                + " (CN=localhost)", failure(() -> TlsFiles.context(tls.serverCert(), key, null)));
        // an EC key for an RSA certificate: another algorithm, refused the same way
        assertTrue(failure(() -> TlsFiles.context(tls.file("server2.pem"), tls.serverKey(), null))
                .startsWith("the private key in " + tls.serverKey() + " is not the key of the first certificate in "));
    }

    @Test
    void emptyFilesAreRefusedSayingWhatWasExpected() throws IOException {
        Path empty = write("empty.pem", "");
        assertEquals("no PEM certificate in " + empty + " (expected -----BEGIN CERTIFICATE-----)",
                failure(() -> TlsFiles.certificates(empty)));
        assertEquals("no PEM private key in " + empty + " (expected -----BEGIN PRIVATE KEY-----; a key in another"
                + " format converts with: openssl pkcs8 -topk8 -nocrypt -in " + empty + " -out " + empty + ".pk8)",
                failure(() -> TlsFiles.privateKey(empty)));
        // the certificate where the key belongs: no key in it
        assertTrue(failure(() -> TlsFiles.privateKey(tls.serverCert()))
                .startsWith("no PEM private key in " + tls.serverCert() + " "));
    }

    @Test
    void brokenContentsAreRefusedNamingTheFile() throws IOException {
        Path notBase64 = write("broken.key", "-----BEGIN PRIVATE KEY-----\nAAAAA\n-----END PRIVATE KEY-----\n");
        assertTrue(failure(() -> TlsFiles.privateKey(notBase64))
                .startsWith("the private key in " + notBase64 + " is not valid base64: "));
        Path notAKey = write("junk.key", "-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n");
        assertEquals("cannot read the private key in " + notAKey + ": not an RSA, EC, EdDSA or DSA PKCS#8 key",
                failure(() -> TlsFiles.privateKey(notAKey)));
        Path notACertificate = write("junk.pem", "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n");
        assertTrue(failure(() -> TlsFiles.certificates(notACertificate))
                .startsWith("cannot read the certificates in " + notACertificate + ": "));
        assertTrue(failure(() -> TlsFiles.keyStoreContext(tls.serverKeyStore(), "wrong".toCharArray(), null))
                .startsWith("cannot read the PKCS#12 keystore " + tls.serverKeyStore() + ": "));
    }

    @Test
    void aServerWhoseKeysCannotBeReadDoesNotStartAndBindsNothing() throws IOException {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        Path key = tls.file("server-pkcs1.key");
        AdderServer server = AdderServer.builder().listen(AdderAddress.tls("127.0.0.1", port))
                .tls(tls.serverCert(), key).build();
        IOException e = assertThrows(IOException.class, server::start);
        assertTrue(e.getMessage().startsWith("the private key in " + key + " is not PKCS#8"), e.getMessage());
        assertFalse(server.isRunning());
        try (ServerSocket free = new ServerSocket()) {
            free.bind(new InetSocketAddress("127.0.0.1", port)); // the port was not taken
        }
        server.close();
    }
}
