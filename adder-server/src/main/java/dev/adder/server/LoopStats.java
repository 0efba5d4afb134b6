package dev.adder.server;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The counters of one loop. Each is written by the loop thread alone and
 * read by any thread: a plain read and a release store to write, an acquire
 * load to read, no atomic read-modify-write on the hot path.
 */
final class LoopStats {

    /** A counter with a single writer. */
    static final class Counter {
        private static final VarHandle VALUE;

        static {
            try {
                VALUE = MethodHandles.lookup().findVarHandle(Counter.class, "value", long.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        @SuppressWarnings("unused") // accessed through VALUE
        private long value;

        /** Loop thread only. */
        void add(long n) {
            VALUE.setRelease(this, (long) VALUE.get(this) + n);
        }

        /** Loop thread only. */
        void set(long n) {
            VALUE.setRelease(this, n);
        }

        /** Any thread. */
        long get() {
            return (long) VALUE.getAcquire(this);
        }
    }

    final Counter openConnections = new Counter();
    final Counter accepted = new Counter();
    final Counter refused = new Counter();
    final Counter requests = new Counter();
    final Counter bytesRead = new Counter();
    final Counter bytesWritten = new Counter();
    /** Answers held for slow readers now, in bytes. */
    final Counter pendingOutput = new Counter();
    /** The most answers held at once since the start. */
    final Counter peakPendingOutput = new Counter();
    final Counter selectorRebuilds = new Counter();
    /** Spins begun after a turn with work (see {@link dev.adder.core.poll.BusyPoll}), and those that found work. */
    final Counter spins = new Counter();
    final Counter spinsPaid = new Counter();

    /** After a turn with work: whether a spin's poll found it (the spin paid), and whether a spin begins. */
    void countSpins(boolean paid, boolean began) {
        if (paid) {
            spinsPaid.add(1);
        }
        if (began) {
            spins.add(1);
        }
    }
    /** Time spent working since the start, and the share of the last window spent so, in 1/10,000 (see {@link LoopHealth}). */
    final Counter busyNanos = new Counter();
    final Counter busyPermyriad = new Counter();
    /** The longest turn of the current and the last window. */
    final Counter longestTurnNanos = new Counter();

    /** One read's traffic: its bytes, and the requests they completed (answered next). Loop thread only. */
    void countRead(long bytes, long completed) {
        bytesRead.add(bytes);
        if (completed > 0) {
            requests.add(completed);
        }
    }

    ServerStats snapshot() {
        return new ServerStats(openConnections.get(), accepted.get(), refused.get(), requests.get(),
                bytesRead.get(), bytesWritten.get(), pendingOutput.get(), busyNanos.get(), busyPermyriad.get() / 10_000.0,
                longestTurnNanos.get());
    }
}
