package dev.adder.server;

/** Nanoseconds from an arbitrary origin, as {@link System#nanoTime()}; tests advance one by hand. */
@FunctionalInterface
interface Clock {

    /** The loop's time: read once when a turn begins, so it may be behind by the turn's length. */
    long nanoTime();

    /**
     * The time now, exactly: what a connection's last traffic is stamped
     * with. The turn's time would make a connection that was busy through a
     * long turn (a GC pause, a stop reading every connection) look quiet for
     * all of it, and its idle timeout come early by as much.
     */
    default long exactNanoTime() {
        return nanoTime();
    }
}
