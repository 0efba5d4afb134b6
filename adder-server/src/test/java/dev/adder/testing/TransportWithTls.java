package dev.adder.testing;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The socket kinds the server's promises are checked on: {@link Transport}'s two, and TLS over
 * TCP, its keys the {@link TestTls} certificates. Apart from {@link Transport}, whose two the
 * client's suites run on too, until the client speaks TLS.
 */
public enum TransportWithTls {
    UNIX, TCP, TLS;

    /** A listen address: a socket file in the test's own directory, or a free loopback port. */
    public AdderAddress listenAddress(Path directory) {
        return switch (this) {
            case UNIX -> AdderAddress.unix(directory.resolve("adder.sock"));
            case TCP -> AdderAddress.tcp("127.0.0.1", 0);
            case TLS -> AdderAddress.tls("127.0.0.1", 0);
        };
    }

    /** A builder listening on {@link #listenAddress(Path)}, with the test keys (copied into {@code directory}) for TLS. */
    public AdderServer.Builder builder(Path directory) {
        AdderServer.Builder builder = AdderServer.builder().listen(listenAddress(directory));
        if (this == TLS) {
            TestTls tls = TestTls.in(directory);
            builder.tls(tls.serverCert(), tls.serverKey());
        }
        return builder;
    }

    /** A server of default settings, started on {@link #listenAddress(Path)}; the caller closes it. */
    public AdderServer startServer(Path directory) throws IOException {
        AdderServer server = builder(directory).build();
        server.start();
        return server;
    }

    /** Whether the socket is TCP's: TCP, or TLS over it (its options, SO_LINGER's reset). */
    public boolean overTcp() {
        return this != UNIX;
    }
}
