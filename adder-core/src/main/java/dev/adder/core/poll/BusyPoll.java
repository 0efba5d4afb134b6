package dev.adder.core.poll;

/**
 * Whether the server's event loop, after a turn that found work, polls
 * without sleeping for a while (a spin) or blocks in {@code select} at once;
 * the loop asks it between turns. (The client's driver has
 * {@link AnswerPoll}.) Public so that the server's module can use it; not an
 * API for applications, and it may change in any release.
 *
 * <p>Spinning pays in two ways. Against traffic that comes whatever the loop
 * does (calls paced by the application's clock), a spin that finds work
 * saves the CPU of being put to sleep and woken again, a few microseconds,
 * and one that runs out burns its whole window for nothing: there the
 * question is CPU, and an account answers it. In a closed loop (a peer that
 * sends its next request as soon as it has the last answer, ping-pong) every
 * spin finds work, a peer's turnaround after its answer; each wake-up saved
 * shortens every round trip, and the loop serves more round trips for about
 * the same CPU each: there the question is throughput, and a spin's wait
 * (longer here than the CPU a wake-up costs) is not charged.
 *
 * <h2>The account</h2>
 * A spin that finds work after at least one empty poll has saved a wake-up,
 * worth {@code W} nanoseconds of CPU ({@link #DEFAULT_WAKE_UP_NANOS} unless
 * told). A spin whose first poll finds work saved nothing and burnt nothing.
 * The time a spin burns is the time from its first poll to its last empty
 * one, or to the end of its window for one that runs out. The credit starts at
 * 0; each spin, as it ends, adds {@code W} if it saved a wake-up and takes off
 * what it burnt; it is held to at most {@value #CREDIT_WINDOWS} windows.
 *
 * <h2>The states</h2>
 * <ul>
 * <li>{@link State#SPINNING}: the credit is not negative; a spin (up to the
 * window) follows every turn with work.
 * <li>{@link State#STOPPED}: the credit is negative; the loop blocks at once
 * after a turn with work. Each such turn earns an allowance of one window in
 * {@value #PROBE_INTERVAL}; once the credit is back to 0 the next turn with
 * work is followed by a probe, a spin charged like any other.
 * <li>{@link State#CLOSED_LOOP}: at least {@value #CLOSED_LOOP_HITS} of the
 * last {@value #CLOSED_LOOP_SPINS} spins (probes included) found work,
 * which paced traffic seldom does: its gaps outlast the window now and then
 * (its spins run out at least once a burst), and a spell it begins ends at
 * its next few gaps (two or three pauses, or 9 to 17 late answers, as
 * below). A spin follows every turn with work,
 * and the account is set aside (neither charged nor credited). A spin that
 * runs out here is a late answer if the turn that finds the next work ends
 * within {@value #LATE_WINDOWS} windows of the spin's start (the peer was descheduled for a moment), a pause
 * otherwise (a burst ended, the peer stopped). The loop stays while late
 * answers come at most about once in {@value #CLOSED_LOOP_LATE} spins and
 * pauses once in {@value #CLOSED_LOOP_SPINS}: each spin that finds work adds
 * one to a tally of at most {@code 2 x} {@value #CLOSED_LOOP_SPINS}, a late
 * answer takes off {@value #CLOSED_LOOP_LATE}, a pause
 * {@value #CLOSED_LOOP_SPINS} (it starts at {@value #CLOSED_LOOP_SPINS});
 * below 0 the loop is back under its account, charged for that spin. A
 * loop begins here: a closed loop shows itself only while both of its sides
 * spin (a side sleeping makes the other's spins wait out its wake-up too),
 * so two sides that each waited to be sure of the other would never begin.
 * </ul>
 *
 * <h2>The bound</h2>
 * Outside closed-loop spells, with {@code S} the wake-ups saved, {@code N}
 * the turns with work and {@code w} the window:
 * <pre>
 *   time burnt in spins  &lt;=  S * W  +  N * w / PROBE_INTERVAL  +  2 * w
 * </pre>
 * where a spin that runs out is charged its window (what the loop did
 * between two polls past its end, a task or a pause, is not the spin's).
 * Proof: the
 * credit changes by {@code +W} per saved wake-up, {@code -burnt} per spin,
 * {@code +w / PROBE_INTERVAL} per turn with work while stopped, and by what
 * the cap cuts off (never positive), so {@code burnt <= S * W + allowances -
 * credit}; a spin begins only at a credit of at least 0 and burns at most
 * {@code w}, and the spin that ends a closed-loop spell is charged at most
 * {@code w} on what the spell began with, so the credit is never below
 * {@code -2 * w}. Whatever the
 * arrival pattern (even, jittered, in bursts, late and catching up), a loop
 * so costs at most a fixed share of a window per turn (about 0.1 µs for the
 * default 25 µs) more than the wake-ups it saves. In a closed-loop spell of
 * {@code P} spins that found work, at most {@code P / CLOSED_LOOP_LATE + 16}
 * run out, of which at most {@code P / CLOSED_LOOP_SPINS + 2} were pauses
 * (the tally starts at 64, gains at most {@code P}, and the last deduction
 * takes it from at least 0 to below 0);
 * every other spin ends with the work it waited for.
 *
 * <p>Idle strategies that count empty polls (Agrona's, Linux's busy polling
 * that stops when polls come up empty) bound what one idle spell costs; the
 * account bounds what spinning costs against what it saved, over any traffic.
 *
 * <p>Times are {@link System#nanoTime()} values passed in by the loop; the
 * loop thread alone calls it.
 */
public final class BusyPoll {

    /** Where the policy stands. */
    public enum State {
        /** In credit: a spin follows every turn with work. */
        SPINNING,
        /** In debt: the loop blocks at once, earning an allowance per turn with work until a probe is due. */
        STOPPED,
        /** Spins keep finding work, as with a peer that answers every answer: a spin follows every turn with work. */
        CLOSED_LOOP
    }

    /** What a saved wake-up is taken to be worth unless told, in nanoseconds of CPU. */
    public static final long DEFAULT_WAKE_UP_NANOS = 5_000;
    /** The most credit kept, in windows. */
    public static final int CREDIT_WINDOWS = 4;
    /** While stopped, each turn with work earns one window in this many: probing costs at most that. */
    public static final int PROBE_INTERVAL = 256;
    /**
     * Of the last {@value #CLOSED_LOOP_SPINS} spins (probes included), how many must have found work for
     * the traffic to be taken for a closed loop.
     */
    public static final int CLOSED_LOOP_HITS = 60;
    /** The spins that {@link #CLOSED_LOOP_HITS} counts among; and, in a closed loop, the pause ratio it outlasts. */
    public static final int CLOSED_LOOP_SPINS = 64;
    /** In a closed loop, the late-answer ratio it outlasts (one spin in this many running out). */
    public static final int CLOSED_LOOP_LATE = 8;
    /** A spin that ran out was a late answer if work came within this many windows of its start; else a pause. */
    public static final int LATE_WINDOWS = 4;

    private final long windowNanos;
    private final long wakeUpNanos;
    private final long maxCredit;
    private final long allowance;
    /** What spins have saved less what they burnt, in nanoseconds, at most {@link #maxCredit}. */
    private long credit;
    /** The last 64 spins outside closed-loop spells, a bit each, 1 for one that found work, the latest lowest. */
    private long recent;
    /**
     * Whether in a closed-loop spell, and its tally (see the class comment). A loop begins in one: a
     * closed loop is seen only while both sides spin, for a side's spin finds work within its
     * window only if the other side did not sleep either; paced traffic ends it within a few gaps.
     */
    private boolean closedLoop = true;
    private int tally = CLOSED_LOOP_SPINS;
    /** The start of a closed-loop spin that ran out, until the next work says how late it was; else {@link #NONE}. */
    private long missedAt = NONE;
    private long missedBurnt;
    private static final long NONE = Long.MIN_VALUE;
    /** The longest window and wake-up cost taken: far beyond any use, and no sum of them overflows. */
    private static final long MAX_NANOS = 1_000_000_000L;
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
        if (windowNanos < 0 || wakeUpNanos < 0 || windowNanos > MAX_NANOS || wakeUpNanos > MAX_NANOS) {
            throw new IllegalArgumentException("window and wake-up cost must be from 0 to 1 s");
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
            if (polled) { // (a spin ends unpaid only in poll(), which has cleared inSpin)
                paid(polls > 1, polls > 0 ? lastPoll - firstPoll : 0);
            }
        } else if (missedAt != NONE) {
            lateOrPause(now - missedAt <= LATE_WINDOWS * windowNanos);
        } else if (credit < 0 && !closedLoop) {
            credit += allowance;
        }
        inSpin = closedLoop || credit >= 0;
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
            // it burnt its window: what came between two polls past the window's end (a task, a timer,
            // a pause of the JVM) is not the spin's; charged, a 10 ms pause kept the loop from
            // spinning for some 100,000 turns
            ranOut(spinUntil - firstPoll);
            return false;
        }
        lastPoll = now;
        return true;
    }

    /**
     * Whether a spin follows every turn with work, as far as the loop knows: for tests and statistics.
     *
     * @return whether the loop spins after every turn with work
     */
    public boolean spinning() {
        return state() != State.STOPPED;
    }

    /**
     * Where the policy stands: for tests and statistics.
     *
     * @return {@link State#CLOSED_LOOP} in a closed-loop spell, else {@link State#SPINNING} while in credit
     */
    public State state() {
        if (windowNanos == 0) {
            return State.STOPPED;
        }
        return closedLoop ? State.CLOSED_LOOP : credit >= 0 ? State.SPINNING : State.STOPPED;
    }

    /**
     * The credit, in nanoseconds: what spins saved less what they burnt,
     * negative while stopped, left as it was during a closed-loop spell; for
     * tests and statistics.
     *
     * @return the credit
     */
    public long credit() {
        return credit;
    }

    private void paid(boolean savedWakeUp, long burnt) {
        if (closedLoop) {
            tally = Math.min(2 * CLOSED_LOOP_SPINS, tally + 1);
            return;
        }
        credit = Math.min(maxCredit, credit + (savedWakeUp ? wakeUpNanos : 0) - burnt);
        recent = recent << 1 | 1;
        if (Long.bitCount(recent) >= CLOSED_LOOP_HITS) {
            closedLoop = true;
            tally = CLOSED_LOOP_SPINS;
            recent = 0;
        }
    }

    private void ranOut(long burnt) {
        if (closedLoop) { // the next work tells a late answer from a pause
            missedAt = spinUntil - windowNanos;
            missedBurnt = burnt;
            return;
        }
        credit -= burnt;
        recent <<= 1;
    }

    private void lateOrPause(boolean late) {
        missedAt = NONE;
        tally -= late ? CLOSED_LOOP_LATE : CLOSED_LOOP_SPINS;
        if (tally < 0) {
            closedLoop = false;
            credit -= missedBurnt;
        }
    }
}
