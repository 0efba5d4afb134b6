package dev.adder.server;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection's end while the server stops, from {@link Connection#beginDrain}
 * on: it may be closed once its answers are flushed, it has been quiet a
 * moment and nothing waits unread, and at the deadline whatever it holds.
 * Closing a socket with bytes unread makes the kernel reset the connection,
 * and the reset discards the answers in flight: hence the quiet, and the last
 * look before closing. Loop thread only.
 */
final class Draining {

    private static final Logger log = LoggerFactory.getLogger(Draining.class);

    private final Connection connection;
    private final Clock clock;
    /** The connection's transfers the last check saw, and the loop's time at the first check that saw them. */
    private long transfersSeen = -1;
    private long quietSinceNanos;

    Draining(Connection connection, Clock clock) {
        this.connection = connection;
        this.clock = clock;
    }

    /** Closes the connection if it may be closed now; returns whether it is closed. */
    boolean closeIfDrained(boolean pastDeadline) {
        // nothing unread: the loop last looked at this socket when its last select returned, and
        // requests may have come since; what is read counts as traffic, so quiet starts again
        boolean flushedAndQuiet = connection.pendingBytes() == 0 && quietSinceLastTraffic()
                && connection.readWaiting(1) == 0;
        if (connection.isClosed()) { // the look found the end of the stream, or an error
            return true;
        }
        if (!pastDeadline && !flushedAndQuiet) {
            return false;
        }
        if (connection.pendingBytes() > 0) {
            log.warn("{}: drain time over; closing with {} bytes of answers unsent", connection,
                    connection.pendingBytes());
        }
        connection.close();
        return true;
    }

    /**
     * Whether {@link Connection#DRAIN_QUIET_NANOS} have passed since the first check that saw
     * the connection's latest traffic. Not since a stamp of the traffic: one turn can be long (the
     * stop itself reads what waits on every connection), and by the turn's time a client that sent
     * throughout it was quiet all of it. A check runs after the turns it follows, so the quiet it
     * counts is no longer than the real one.
     */
    private boolean quietSinceLastTraffic() {
        long now = clock.nanoTime();
        long transfers = connection.transfers();
        if (transfers != transfersSeen) {
            transfersSeen = transfers;
            quietSinceNanos = now;
            return false;
        }
        return now - quietSinceNanos >= Connection.DRAIN_QUIET_NANOS;
    }
}
