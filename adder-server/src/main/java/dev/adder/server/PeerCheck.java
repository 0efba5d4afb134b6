package dev.adder.server;

import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import jdk.net.UnixDomainPrincipal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The check of a connection just accepted on a Unix-domain listener, before
 * it is handed to a loop: its peer's credentials, as the kernel recorded
 * them at connect, against the {@link AllowedPeers}. A connection that is
 * not admitted (a peer not allowed, or credentials that cannot be read) is
 * closed here, counted as refused, and logged at most once every five
 * seconds for each of the two reasons, with how many so far; it never
 * reaches a loop, and its failure ends nothing else. Loop thread only (the
 * accepting loop's).
 */
final class PeerCheck {

    private static final Logger log = LoggerFactory.getLogger(PeerCheck.class);

    private final AllowedPeers allowed;
    private final LoopStats stats;
    private final RateLimit refusalWarnings = new RateLimit();
    private final RateLimit failureWarnings = new RateLimit();
    private long refused;
    private long unreadable;

    PeerCheck(AllowedPeers allowed, LoopStats stats) {
        this.allowed = allowed;
        this.stats = stats;
    }

    /** Whether the connection may be served; if not, it is closed, counted and logged. */
    boolean admits(SocketChannel socket, AdderAddress address, long now) {
        UnixDomainPrincipal peer;
        try {
            peer = allowed.credentials(socket);
        } catch (IOException | RuntimeException e) { // the JDK's or the user database's: this connection's alone
            unreadable++;
            close(socket);
            if (failureWarnings.allow(now)) {
                log.warn("closing a connection on {}: cannot read its peer credentials ({}); {} so far", address,
                        e.toString(), unreadable);
            }
            return false;
        }
        if (allowed.admits(peer)) {
            return true;
        }
        refused++;
        close(socket);
        if (refusalWarnings.allow(now)) {
            log.warn("refusing a connection on {} from user {}, group {}: only {} may connect ({} refused so far)",
                    address, peer.user().getName(), peer.group().getName(), allowed, refused);
        }
        return false;
    }

    private void close(SocketChannel socket) {
        stats.refused.add(1);
        new SocketConnectionChannel(socket, false).close();
    }
}
