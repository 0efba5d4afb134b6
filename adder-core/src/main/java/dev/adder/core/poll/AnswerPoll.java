package dev.adder.core.poll;

/**
 * Whether the client's driver, waiting for a caller's answer, polls without
 * sleeping for a while after an answer came (a spin) or blocks in
 * {@code select} at once; it learns which pays from its own recent waits.
 * The server's loop has {@link BusyPoll}, an account of CPU; a client spins
 * only while an answer is due, and its spin's window begins at the last
 * answer, so it covers the caller's own turnaround and the server's: against
 * a server that sleeps, most spins wait out the server's wake-up too, and an
 * account would stop the client's spinning, and with it the closed loop
 * (ping-pong) in which both sides spin. Public so that the client's module
 * can use it; not an API for applications, and it may change in any release.
 *
 * <p>A spin pays when the answer comes before its window ends: the caller
 * then has it without the cost of being put to sleep and woken again (on
 * these machines several microseconds of CPU and of latency per wake-up). A
 * spin that runs out has burnt its whole window. So the driver spins after
 * every answer while spins keep paying, and stops after
 * {@value #MISSES_BEFORE_STOPPING} spins in a row run out (answers that come
 * further apart than the window). While stopped, it probes with one spin now
 * and then: after every 2nd answer at first, twice as seldom after each probe
 * that runs out (at most one in {@value #MAX_PROBE_INTERVAL}), twice as often
 * after each probe that pays, spinning after every answer again once that
 * reaches every answer. The idea is the one of HotSpot's adaptive spinning
 * before a thread parks, and of Linux's busy polling that stops when polls
 * come up empty.
 *
 * <p>Times are {@link System#nanoTime()} values passed in by the driver; one
 * thread at a time calls it.
 */
public final class AnswerPoll {

    /** Spins in a row that run out before the driver stops spinning after every answer. */
    public static final int MISSES_BEFORE_STOPPING = 3;
    /** While not spinning, at least one answer in this many is followed by a probe. */
    public static final int MAX_PROBE_INTERVAL = 1024;

    private final long windowNanos;
    /** Whether spins have been paying: spin after every answer. */
    private boolean spinning = true;
    /** Spins in a row that ran out, while spinning. */
    private int misses;
    /** While not spinning: one answer in this many is followed by a probe. */
    private int probeInterval = 1;
    private int answersUntilProbe;
    /** Whether the driver is in a spin, which ends at {@link #spinUntil}. */
    private boolean inSpin;
    private long spinUntil;

    /**
     * A policy with this window.
     *
     * @param windowNanos the longest spin, in nanoseconds; 0 never spins
     */
    public AnswerPoll(long windowNanos) {
        this.windowNanos = windowNanos;
    }

    /**
     * An answer came, found by a spin's poll if {@code polled} (the spin paid);
     * it ended at {@code now}.
     *
     * @param polled whether a spin's poll found the work
     * @param now when it came
     * @return whether a spin begins: the next waits are polls until it ends
     */
    public boolean foundWork(boolean polled, long now) {
        if (windowNanos == 0) {
            return false;
        }
        if (polled) {
            paid();
        }
        inSpin = spinning || --answersUntilProbe <= 0;
        spinUntil = now + windowNanos;
        return inSpin;
    }

    /**
     * Whether the driver's next wait should be a poll rather than a blocking one.
     *
     * @param now the time of the wait
     * @return true while a spin lasts
     */
    public boolean poll(long now) {
        if (inSpin && now - spinUntil >= 0) {
            inSpin = false;
            missed();
        }
        return inSpin;
    }

    /**
     * Whether spins are paying, as far as the driver knows: for tests and statistics.
     *
     * @return whether the driver spins after every answer
     */
    public boolean spinning() {
        return spinning;
    }

    private void paid() {
        if (spinning) {
            misses = 0;
            return;
        }
        // one probe that pays is not yet a pattern: probe twice as often, and spin again at every turn
        // once probes have paid often enough to get there
        probeInterval /= 2;
        if (probeInterval <= 1) {
            spinning = true;
            misses = 0;
        } else {
            answersUntilProbe = probeInterval;
        }
    }

    private void missed() {
        if (spinning) {
            if (++misses < MISSES_BEFORE_STOPPING) {
                return;
            }
            spinning = false;
            probeInterval = 2;
        } else {
            probeInterval = Math.min(probeInterval * 2, MAX_PROBE_INTERVAL);
        }
        answersUntilProbe = probeInterval;
    }
}
