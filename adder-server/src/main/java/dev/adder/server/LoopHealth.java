package dev.adder.server;

import dev.adder.core.HumanDuration;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How the loop spends its time: working (serving channels, running tasks and
 * timers) or waiting in {@code select}, and how long its longest turns take.
 * A turn here is the work between two waits; a long one (a stuck task, a GC
 * pause while serving) delays every connection of the loop, so one past the
 * threshold logs a warning, at most one line every five seconds.
 *
 * <p>Figures are kept per window of {@value #WINDOW_SECONDS} seconds: the
 * share of the last full window spent working, and the longest turn of the
 * current and the last window. The loop thread alone calls it, with
 * {@link System#nanoTime()} values; anyone reads the figures through
 * {@link LoopStats}.
 */
final class LoopHealth {

    static final int WINDOW_SECONDS = 10;
    static final long WINDOW_NANOS = TimeUnit.SECONDS.toNanos(WINDOW_SECONDS);
    private static final Logger log = LoggerFactory.getLogger(LoopHealth.class);

    private final LoopStats stats;
    private final long slowTurnNanos;
    private long busy;
    private long windowStart;
    private long busyAtWindowStart;
    private long longestThisWindow;
    private long longestLastWindow;
    private final RateLimit warnings = new RateLimit();

    LoopHealth(LoopStats stats, Duration slowTurn, long now) {
        this.stats = stats;
        this.slowTurnNanos = slowTurn.isZero() ? Long.MAX_VALUE : slowTurn.toNanos();
        this.windowStart = now;
    }

    /** A turn's work took {@code nanos}, ending at {@code now}. */
    void worked(long nanos, long now) {
        busy += nanos;
        stats.busyNanos.set(busy);
        if (nanos > longestThisWindow) {
            longestThisWindow = nanos;
            if (nanos > longestLastWindow) {
                stats.longestTurnNanos.set(nanos);
            }
        }
        if (nanos >= slowTurnNanos) {
            slowTurn(nanos, now);
        }
        if (now - windowStart >= WINDOW_NANOS) {
            endWindow(now);
        }
    }

    /** Ends the window if it is over; the loop calls it at least once a window, so an idle loop's figures age too. */
    void tick(long now) {
        if (now - windowStart >= WINDOW_NANOS) {
            endWindow(now);
        }
    }

    private void endWindow(long now) {
        long elapsed = now - windowStart;
        stats.busyPermyriad.set(Math.min(10_000, (busy - busyAtWindowStart) * 10_000 / elapsed));
        longestLastWindow = longestThisWindow;
        longestThisWindow = 0;
        stats.longestTurnNanos.set(longestLastWindow);
        busyAtWindowStart = busy;
        windowStart = now;
    }

    private void slowTurn(long nanos, long now) {
        if (!warnings.allow(now)) {
            return;
        }
        int held = warnings.takeHeld();
        log.warn("the adder event loop spent {} on one turn (warning at {}): every connection of the loop waited;"
                        + " a GC pause or a slow task?{}", HumanDuration.format(Duration.ofMillis(nanos / 1_000_000)),
                HumanDuration.format(Duration.ofNanos(slowTurnNanos)),
                held == 0 ? "" : " (" + held + " more such turns since the last warning)");
    }
}
