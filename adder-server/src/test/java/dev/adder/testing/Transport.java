package dev.adder.testing;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import java.io.IOException;
import java.nio.file.Path;

/** The two socket kinds every behaviour is checked on. */
public enum Transport {
    UNIX, TCP;

    /** A listen address: a socket file in the test's own directory, or a free loopback port. */
    public AdderAddress listenAddress(Path directory) {
        return this == UNIX
                ? AdderAddress.unix(directory.resolve("adder.sock"))
                : AdderAddress.tcp("127.0.0.1", 0);
    }

    /** A server of default settings, started on {@link #listenAddress(Path)}; the caller closes it. */
    public AdderServer startServer(Path directory) throws IOException {
        AdderServer server = AdderServer.builder().listen(listenAddress(directory)).build();
        server.start();
        return server;
    }
}
