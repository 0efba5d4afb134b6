package dev.adder.server;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server-wide bound on answers held for slow readers. Every per-connection
 * limit needs one beside it: many clients that never read, each at its own
 * limit, would add up to more than the heap. Past the budget, connections
 * that hold answers are not read until the total has drained to half of it;
 * clients that keep up hold none and are still served.
 *
 * <p>It keeps the connections holding answers in a list of their own (linked
 * through the connections, so it allocates nothing), to tell exactly those
 * when reading stops or resumes. Loop thread only.
 */
final class OutputBudget {

    private static final Logger log = LoggerFactory.getLogger(OutputBudget.class);

    private final long limit;
    private final LoopStats stats;
    private final Clock clock;
    private boolean over;
    private Connection firstHolder;
    private final RateLimit warnings = new RateLimit();

    OutputBudget(long limit, LoopStats stats, Clock clock) {
        this.limit = limit;
        this.stats = stats;
        this.clock = clock;
    }

    /** Whether the total is past the budget and has not yet drained to half of it. */
    boolean isOver() {
        return over;
    }

    /** Called by a connection whose held answers changed by {@code delta} bytes; it now holds {@code held}. */
    void changed(Connection connection, long delta, long held) {
        long total = stats.pendingOutput.get() + delta;
        stats.pendingOutput.set(total);
        if (total > stats.peakPendingOutput.get()) {
            stats.peakPendingOutput.set(total);
        }
        if (held > 0 && !connection.holding) {
            link(connection);
        } else if (held == 0 && connection.holding) {
            unlink(connection);
        }
        if (!over && total >= limit) {
            over = true;
            warn();
            updateHolders();
        } else if (over && total <= limit / 2) {
            over = false;
            updateHolders();
        }
    }

    private void warn() {
        if (warnings.allow(clock.nanoTime())) {
            log.warn("answers held for slow readers reached the budget of {} bytes; not reading the connections"
                    + " that hold answers until it is below {} bytes", limit, limit / 2);
        }
    }

    private void updateHolders() {
        for (Connection holder = firstHolder; holder != null; holder = holder.nextHolder) {
            holder.updateInterest();
        }
    }

    private void link(Connection connection) {
        connection.holding = true;
        connection.prevHolder = null;
        connection.nextHolder = firstHolder;
        if (firstHolder != null) {
            firstHolder.prevHolder = connection;
        }
        firstHolder = connection;
    }

    private void unlink(Connection connection) {
        connection.holding = false;
        if (connection.prevHolder != null) {
            connection.prevHolder.nextHolder = connection.nextHolder;
        } else {
            firstHolder = connection.nextHolder;
        }
        if (connection.nextHolder != null) {
            connection.nextHolder.prevHolder = connection.prevHolder;
        }
        connection.prevHolder = null;
        connection.nextHolder = null;
    }
}
