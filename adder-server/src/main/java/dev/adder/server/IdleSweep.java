package dev.adder.server;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Closes the loop's connections that had no traffic for the idle timeout:
 * a sweep over every connection each quarter of the timeout (between 10 ms
 * and 1 s), so one closes at most a quarter late. With no timeout it never
 * runs; it stops when the server begins to stop. Loop thread only.
 */
final class IdleSweep {

    private final long idleNanos;
    private final Connections connections;
    private final Timers timers;
    private final Clock clock;
    private final Timers.Timer timer;

    IdleSweep(Duration idleTimeout, Connections connections, Timers timers, Clock clock) {
        this.idleNanos = idleTimeout.toNanos();
        this.connections = connections;
        this.timers = timers;
        this.clock = clock;
        this.timer = timers.create(this::sweep);
    }

    void start() {
        if (idleNanos > 0) {
            timers.schedule(timer, clock.nanoTime() + interval());
        }
    }

    void stop() {
        timers.cancel(timer);
    }

    private void sweep() {
        connections.forEach(connection -> connection.closeIfIdle(idleNanos));
        timers.schedule(timer, clock.nanoTime() + interval());
    }

    private long interval() {
        return Math.max(TimeUnit.MILLISECONDS.toNanos(10), Math.min(idleNanos / 4, TimeUnit.SECONDS.toNanos(1)));
    }
}
