package dev.adder.server;

import dev.adder.core.HumanDuration;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stop, for the loop's connections: at its beginning every connection
 * drains (answers what it received, see {@link Connection#beginDrain}); then
 * a sweep, every half of {@link Connection#DRAIN_QUIET_NANOS} and at the
 * deadline, closes each that may be closed ({@link Draining}), and at the
 * deadline every one left. The loop ends once none is open. Loop thread only.
 */
final class DrainSweep {

    private static final Logger log = LoggerFactory.getLogger(DrainSweep.class);

    private final Duration timeout;
    private final Connections connections;
    private final Timers timers;
    private final Clock clock;
    private final Timers.Timer timer;
    private long deadline;

    DrainSweep(Duration timeout, Connections connections, Timers timers, Clock clock) {
        this.timeout = timeout;
        this.connections = connections;
        this.timers = timers;
        this.clock = clock;
        this.timer = timers.create(this::sweep);
    }

    /** The server is stopping: every connection drains, and the sweeps begin at once. */
    void begin() {
        long now = clock.nanoTime();
        deadline = now + timeout.toNanos();
        connections.forEach(Connection::beginDrain);
        timers.schedule(timer, now);
        log.debug("adder server stopping: {} connections draining for at most {}",
                connections.stats.openConnections.get(), HumanDuration.format(timeout));
    }

    private void sweep() {
        long now = clock.nanoTime();
        boolean pastDeadline = now - deadline >= 0;
        connections.forEach(connection -> connection.closeIfDrained(pastDeadline));
        timers.schedule(timer, Math.min(deadline, now + Connection.DRAIN_QUIET_NANOS / 2));
    }
}
