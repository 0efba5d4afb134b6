package dev.adder.testing;

import dev.adder.core.tls.TlsFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import javax.net.ssl.SSLContext;

/**
 * The test certificates of {@code src/test/resources/tls} (made by its {@code gen.sh}: a CA, two
 * server certificates for localhost, a client certificate, and an untrusted CA's client), copied
 * into a test's directory so that they can be named as files, and contexts made from them.
 */
public final class TestTls {

    private static final String[] FILES = {"ca.pem", "server.pem", "server.key", "server2.pem", "server2.key",
        "server.p12", "client.pem", "client.key", "other-ca.pem", "other-client.pem", "other-client.key",
        "server-pkcs1.key"};

    private final Path directory;

    private TestTls(Path directory) {
        this.directory = directory;
    }

    /** Copies the test certificates into {@code directory}. */
    public static TestTls in(Path directory) {
        try {
            for (String name : FILES) {
                try (InputStream in = TestTls.class.getResourceAsStream("/tls/" + name)) {
                    if (in == null) {
                        throw new IllegalStateException("test resource /tls/" + name + " is missing");
                    }
                    Files.copy(in, directory.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new TestTls(directory);
    }

    public Path file(String name) {
        return directory.resolve(name);
    }

    public Path ca() {
        return file("ca.pem");
    }

    public Path serverCert() {
        return file("server.pem");
    }

    public Path serverKey() {
        return file("server.key");
    }

    /** A client context that trusts the test CA and presents no certificate. */
    public SSLContext clientTrustingCa() throws IOException {
        return TlsFiles.trustContext(ca());
    }

    /** A client context that trusts the test CA and presents the test client certificate. */
    public SSLContext clientWithCertificate() throws IOException {
        return TlsFiles.context(file("client.pem"), file("client.key"), ca());
    }

    /** A client context that trusts the test CA and presents a certificate of a CA the server does not trust. */
    public SSLContext clientWithUntrustedCertificate() throws IOException {
        return TlsFiles.context(file("other-client.pem"), file("other-client.key"), ca());
    }
}
