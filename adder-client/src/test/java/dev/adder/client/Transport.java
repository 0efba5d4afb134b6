package dev.adder.client;

import dev.adder.core.AdderAddress;
import java.nio.file.Path;

/** The two socket kinds every behaviour is checked on. */
enum Transport {
    UNIX, TCP;

    /** A listen address: a socket file in the test's own directory, or a free loopback port. */
    AdderAddress listenAddress(Path directory) {
        return this == UNIX
                ? AdderAddress.unix(directory.resolve("adder.sock"))
                : AdderAddress.tcp("127.0.0.1", 0);
    }
}
