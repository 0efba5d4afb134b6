package dev.adder.server;

import java.util.concurrent.TimeUnit;

/**
 * At most one event every five seconds, counting those held back: for
 * warnings a loop could otherwise log at every turn. Times are
 * {@link System#nanoTime()} values; one thread uses it.
 */
final class RateLimit {

    static final long INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(5);

    private boolean used;
    private long last;
    private int held;

    /** Whether an event at {@code now} may go out; if not, it is counted as held back. */
    boolean allow(long now) {
        if (used && now - last < INTERVAL_NANOS) {
            held++;
            return false;
        }
        used = true;
        last = now;
        return true;
    }

    /** The events held back since the last one allowed; the count starts again from zero. */
    int takeHeld() {
        int count = held;
        held = 0;
        return count;
    }
}
