package dev.adder.core.poll;

/**
 * Whether a thread that waits for I/O, after a turn that found work, polls
 * without sleeping for a while (a spin) or blocks in {@code select} at once;
 * it keeps an account of what its spins cost and what they saved. The
 * server's loop asks it between turns, the client's driver while it waits
 * for an answer; "the loop" below is either. Public so that both modules can
 * use it; not an API for applications, and it may change in any release.
 *
 * <h2>The account</h2>
 * A spin that finds work after at least one empty poll has saved a wake-up:
 * the loop would otherwise have been put to sleep and woken again, which
 * costs a few microseconds of CPU (and of latency), taken here as a constant
 * {@code W} ({@link #DEFAULT_WAKE_UP_NANOS} unless told). A spin whose first
 * poll finds work saved nothing (a blocking select would have returned at
 * once too) and burnt nothing. The time a spin burns is the time from its
 * first poll to its last empty one, or to the end of its window for one that
 * runs out. The loop's credit, in nanoseconds, starts at 0; each spin, when it
 * ends, adds {@code W} if it saved a wake-up and takes off what it burnt. The
 * credit is held to at most {@value #CREDIT_WINDOWS} windows: savings older
 * than that much spinning are not kept for later.
 *
 * <h2>The states</h2>
 * <ul>
 * <li>{@link State#SPINNING}: the credit is not negative; a spin (up to the
 * window) follows every turn with work. Back-to-back ping-pong and a client
 * busy beside sparse ones stay here, each spin earning about {@code W} less
 * the client's turnaround.
 * <li>{@link State#STOPPED}: the credit is negative (a spin burnt more than
 * was left); the loop blocks at once after a turn with work. Each such turn
 * earns an allowance of one window in {@value #PROBE_INTERVAL}; the turn that
 * brings the credit back to zero or above is followed by a probe, which is a
 * spin like any other, charged like any other: if it saves a wake-up for less
 * than {@code W} the loop stays {@code SPINNING}, if it runs out it is
 * {@code STOPPED} again. After one spin that ran out the loop so probes within
 * {@value #PROBE_INTERVAL} turns; probing costs at most one window per
 * {@value #PROBE_INTERVAL} turns with work.
 * </ul>
 *
 * <h2>The bound</h2>
 * Over any sequence of turns and gaps, with {@code S} the wake-ups saved,
 * {@code N} the turns with work and {@code w} the window:
 * <pre>
 *   time burnt in spins  &lt;=  S * W  +  N * w / PROBE_INTERVAL  +  w + p
 * </pre>
 * where {@code p} is the longest time between two of the loop's polls (a spin
 * that runs out is seen to at its first poll past its window). Proof: the
 * credit changes only by {@code +W} per saved wake-up, {@code -burnt} per
 * spin, {@code +w / PROBE_INTERVAL} per turn with work while stopped, and by
 * what the cap cuts off (never positive). Summed from the start (credit 0):
 * {@code credit = S * W - burnt + allowances - cut}, so
 * {@code burnt <= S * W + allowances - credit}. A spin begins only while the
 * credit is at least 0, and burns at most {@code w + p}, so the credit is never
 * below {@code -(w + p)}; the allowances are at most {@code N * w / PROBE_INTERVAL}.
 * So a loop costs at most a fixed share of a window per turn (for the default
 * 25 µs, about 0.1 µs a turn) more than the wake-ups it saves, whatever the
 * arrival pattern: even, jittered, in bursts, late and catching up.
 *
 * <p>Idle strategies that count empty polls (Agrona's, Linux's busy polling
 * that stops when polls come up empty) bound what one idle spell costs; this
 * account bounds what spinning costs against what it saved, over any traffic.
 *
 * <p>Times are {@link System#nanoTime()} values passed in by the loop; the
 * loop thread alone calls it.
 */
public final class BusyPoll {

    /** Where the account stands. */
    public enum State {
        /** In credit: a spin follows every turn with work. */
        SPINNING,
        /** In debt: the loop blocks at once, earning an allowance per turn with work until a probe is due. */
        STOPPED
    }

    /** What a saved wake-up is taken to be worth unless told, in nanoseconds of CPU. */
    public static final long DEFAULT_WAKE_UP_NANOS = 5_000;
    /** The most credit kept, in windows. */
    public static final int CREDIT_WINDOWS = 4;
    /** While stopped, each turn with work earns one window in this many: probing costs at most that. */
    public static final int PROBE_INTERVAL = 256;

    private final long windowNanos;
    private final long wakeUpNanos;
    private final long maxCredit;
    private final long allowance;
    /** What spins have saved less what they burnt, in nanoseconds, at most {@link #maxCredit}. */
    private long credit;
    /** Whether the loop is in a spin, which ends at {@link #spinUntil}. */
    private boolean inSpin;
    private long spinUntil;
    /** The spin's polls so far, and the times of its first and last. */
    private int polls;
    private long firstPoll;
    private long lastPoll;

    /**
     * A policy with this window, a saved wake-up worth {@link #DEFAULT_WAKE_UP_NANOS}.
     *
     * @param windowNanos the longest spin, in nanoseconds; 0 never spins
     */
    public BusyPoll(long windowNanos) {
        this(windowNanos, DEFAULT_WAKE_UP_NANOS);
    }

    /**
     * A policy with this window and this worth of a saved wake-up.
     *
     * @param windowNanos the longest spin, in nanoseconds; 0 never spins
     * @param wakeUpNanos the CPU a wake-up costs, in nanoseconds: what a spin that saves one earns
     */
    public BusyPoll(long windowNanos, long wakeUpNanos) {
        if (windowNanos < 0 || wakeUpNanos < 0) {
            throw new IllegalArgumentException("window and wake-up cost must not be negative");
        }
        this.windowNanos = windowNanos;
        this.wakeUpNanos = wakeUpNanos;
        this.maxCredit = CREDIT_WINDOWS * windowNanos;
        this.allowance = Math.max(1, windowNanos / PROBE_INTERVAL);
    }

    /**
     * A turn found work, by a spin's poll if {@code polled} (the spin paid);
     * it ended at {@code now}.
     *
     * @param polled whether a spin's poll found the work
     * @param now when the turn ended
     * @return whether a spin begins: the next waits are polls until it ends
     */
    public boolean foundWork(boolean polled, long now) {
        if (windowNanos == 0) {
            return false;
        }
        if (inSpin) {
            inSpin = false;
            boolean saved = polled && polls > 1; // an empty poll came first: the work came during the spin
            settle(saved ? wakeUpNanos : 0, polls > 0 ? lastPoll - firstPoll : 0);
        } else if (credit < 0) {
            credit += allowance;
        }
        inSpin = credit >= 0;
        spinUntil = now + windowNanos;
        polls = 0;
        return inSpin;
    }

    /**
     * Whether the loop's next wait should be a poll rather than a blocking one.
     *
     * @param now the time of the wait
     * @return true while a spin lasts
     */
    public boolean poll(long now) {
        if (!inSpin) {
            return false;
        }
        if (polls++ == 0) {
            firstPoll = now;
        }
        if (now - spinUntil >= 0) {
            inSpin = false;
            settle(0, now - firstPoll); // ran out: it burnt all the time it polled
            return false;
        }
        lastPoll = now;
        return true;
    }

    /**
     * Whether spins are paying, as far as the loop knows: for tests and statistics.
     *
     * @return whether the loop spins after every turn with work
     */
    public boolean spinning() {
        return state() == State.SPINNING;
    }

    /**
     * Where the account stands: for tests and statistics.
     *
     * @return {@link State#SPINNING} while in credit
     */
    public State state() {
        return windowNanos > 0 && credit >= 0 ? State.SPINNING : State.STOPPED;
    }

    /**
     * The credit, in nanoseconds: what spins saved less what they burnt,
     * negative while stopped; for tests and statistics.
     *
     * @return the credit
     */
    public long credit() {
        return credit;
    }

    private void settle(long earned, long burnt) {
        credit = Math.min(maxCredit, credit + earned - burnt);
    }
}
