package dev.adder.core.poll;

/**
 * Whether a thread that waits for I/O, after a turn that found work, polls
 * without sleeping for a while (a spin) or blocks in {@code select} at once;
 * it learns which pays from its own recent turns. The server's loop asks it
 * between turns, the client's driver while it waits for an answer; "the
 * loop" below is either. Public so that both modules can use it; not an
 * API for applications, and it may change in any release.
 *
 * <p>A spin pays when work comes before its window ends: the loop then
 * answers without the cost of being put to sleep and woken again (on these
 * machines several microseconds of CPU and of latency per wake-up). A spin
 * that runs out has burnt its whole window for nothing. So the loop spins
 * after every turn with work while spins keep paying (back-to-back ping-pong,
 * pipelined and many-client traffic), and stops after
 * {@value #MISSES_BEFORE_STOPPING} spins in a row run out (requests that come
 * further apart than the window: sparse or paced traffic). While stopped, it
 * probes with one spin now and then: after every 2nd turn with work at first,
 * twice as seldom after each probe that runs out (at most one in
 * {@value #MAX_PROBE_INTERVAL}), twice as often after each probe that pays,
 * spinning after every turn again once that reaches every turn. Sparse
 * traffic so costs at most about one window per
 * {@value #MAX_PROBE_INTERVAL} requests, and traffic whose gaps are short
 * only now and then does not restart the spinning. The idea is the one of HotSpot's adaptive spinning before a
 * thread parks, and of Linux's busy polling that stops when polls come up
 * empty.
 *
 * <p>Times are {@link System#nanoTime()} values passed in by the loop; the
 * loop thread alone calls it.
 */
public final class BusyPoll {

    /** Spins in a row that run out before the loop stops spinning after every turn. */
    public static final int MISSES_BEFORE_STOPPING = 3;
    /** While not spinning, at least one turn with work in this many is followed by a probe. */
    public static final int MAX_PROBE_INTERVAL = 1024;

    private final long windowNanos;
    /** Whether spins have been paying: spin after every turn with work. */
    private boolean spinning = true;
    /** Spins in a row that ran out, while spinning. */
    private int misses;
    /** While not spinning: one turn with work in this many is followed by a probe. */
    private int probeInterval = 1;
    private int turnsUntilProbe;
    /** Whether the loop is in a spin, which ends at {@link #spinUntil}. */
    private boolean inSpin;
    private long spinUntil;

    /**
     * A policy with this window.
     *
     * @param windowNanos the longest spin, in nanoseconds; 0 never spins
     */
    public BusyPoll(long windowNanos) {
        this.windowNanos = windowNanos;
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
        if (polled) {
            paid();
        }
        inSpin = spinning || --turnsUntilProbe <= 0;
        spinUntil = now + windowNanos;
        return inSpin;
    }

    /**
     * Whether the loop's next wait should be a poll rather than a blocking one.
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
     * Whether spins are paying, as far as the loop knows: for tests and statistics.
     *
     * @return whether the loop spins after every turn with work
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
            turnsUntilProbe = probeInterval;
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
        turnsUntilProbe = probeInterval;
    }
}
