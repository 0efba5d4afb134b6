package dev.adder.server;

import java.util.ArrayList;
import java.util.List;

/**
 * Every deadline of one loop: the idle scan, the drain's checks, a paused
 * listener's return. The loop sleeps until the earliest and runs those due.
 * There are a handful (two plus one per listener), so a list scanned in full
 * is simpler and no slower than a heap, and it allocates nothing once made.
 */
final class Timers {

    /** A deadline and what to do at it; scheduled at most once at a time. */
    static final class Timer {
        private final Runnable action;
        private long deadline;
        private boolean scheduled;

        Timer(Runnable action) {
            this.action = action;
        }

        boolean isScheduled() {
            return scheduled;
        }
    }

    private final List<Timer> timers = new ArrayList<>();

    /** A timer, not yet scheduled. */
    Timer create(Runnable action) {
        Timer timer = new Timer(action);
        timers.add(timer);
        return timer;
    }

    /** Runs the timer's action at {@code deadline} (nanoTime), replacing any earlier schedule. */
    void schedule(Timer timer, long deadline) {
        timer.deadline = deadline;
        timer.scheduled = true;
    }

    void cancel(Timer timer) {
        timer.scheduled = false;
    }

    /** Whether any timer is scheduled; if not, {@link #nextDeadline} means nothing. */
    boolean any() {
        for (int i = 0; i < timers.size(); i++) {
            if (timers.get(i).scheduled) {
                return true;
            }
        }
        return false;
    }

    /** The earliest scheduled deadline; call only if {@link #any()}. */
    long nextDeadline() {
        long next = 0;
        boolean found = false;
        for (int i = 0; i < timers.size(); i++) {
            Timer timer = timers.get(i);
            if (timer.scheduled && (!found || timer.deadline - next < 0)) {
                next = timer.deadline;
                found = true;
            }
        }
        return next;
    }

    /** Runs, once each, the timers due at {@code now}; an action may schedule its timer again. */
    void runDue(long now) {
        for (int i = 0; i < timers.size(); i++) {
            Timer timer = timers.get(i);
            if (timer.scheduled && now - timer.deadline >= 0) {
                timer.scheduled = false;
                timer.action.run();
            }
        }
    }
}
