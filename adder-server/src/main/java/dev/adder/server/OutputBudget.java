package dev.adder.server;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server-wide bound on answers held for slow readers, a loop's share of
 * it. Every per-connection limit needs one beside it: many clients that never
 * read, each at its own limit, would add up to more than the heap. Past the
 * budget, connections that hold answers are not read until the total has
 * drained to half of it; clients that keep up hold none and are still served,
 * a little at a time.
 *
 * <p>It tells every connection of its loop when it goes over or back under
 * (rarely: half the budget lies between the two), so that no connection asks
 * it at each read. Loop thread only.
 */
final class OutputBudget {

    private static final Logger log = LoggerFactory.getLogger(OutputBudget.class);

    private final long limit;
    private final LoopStats stats;
    private final Clock clock;
    private final Connections connections;
    private boolean over;
    private final RateLimit warnings = new RateLimit();

    OutputBudget(long limit, LoopStats stats, Clock clock, Connections connections) {
        this.limit = limit;
        this.stats = stats;
        this.clock = clock;
        this.connections = connections;
    }

    /** Whether the total is past the budget and has not yet drained to half of it. */
    boolean isOver() {
        return over;
    }

    /** The answers the loop's connections hold changed by {@code delta} bytes. */
    void changed(long delta) {
        long total = stats.pendingOutput.get() + delta;
        stats.pendingOutput.set(total);
        if (total > stats.peakPendingOutput.get()) {
            stats.peakPendingOutput.set(total);
        }
        if (!over && total >= limit) {
            over = true;
            warn();
            connections.budgetTurned(true);
        } else if (over && total <= limit / 2) {
            over = false;
            connections.budgetTurned(false);
        }
    }

    private void warn() {
        if (warnings.allow(clock.nanoTime())) {
            log.warn("answers held for slow readers reached the budget of {} bytes; not reading the connections"
                    + " that hold answers until it is below {} bytes", limit, limit / 2);
        }
    }
}
