package dev.adder.server;

import dev.adder.core.AdderAddress;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.List;
import java.util.Set;

/** The settings of one server, fixed once built. */
record ServerConfig(
        List<AdderAddress> listen,
        int maxConnections,
        int maxPendingOutput,
        long maxPendingOutputTotal,
        Duration idleTimeout,
        Duration drainTimeout,
        Duration busyPoll,
        Set<PosixFilePermission> unixSocketPermissions,
        boolean registerMBean,
        String threadName) {
}
