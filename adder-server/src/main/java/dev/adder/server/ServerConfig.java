package dev.adder.server;

import dev.adder.core.AdderAddress;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import javax.management.ObjectName;

/** The settings of one server, fixed once built. */
record ServerConfig(
        List<AdderAddress> listen,
        int maxConnections,
        int maxPendingOutput,
        long maxPendingOutputTotal,
        Duration idleTimeout,
        Duration drainTimeout,
        Duration busyPoll,
        Duration slowTurnWarning,
        Set<PosixFilePermission> unixSocketPermissions,
        boolean registerMBean,
        ObjectName jmxName,
        String threadName,
        int loops,
        // null when no keys were given (and so no tls: listener is there)
        TlsSettings tls,
        // who may connect over a Unix-domain socket; null: anyone the socket file lets in
        AllowedPeers allowedPeers) {
}
