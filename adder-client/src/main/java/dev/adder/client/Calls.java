package dev.adder.client;

import dev.adder.core.AdderAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.concurrent.Executor;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A client's calls and the driver's role: who waits for what, who drives,
 * and every move of a waiter out of pending. The order of the calls, and
 * their requests and answers, is the {@link Line}'s, used only here.
 *
 * <p>Invariants, all under {@link #lock}:
 * <ul>
 * <li>A waiter moves once from pending to done or failed, in {@link #finish};
 *     its caller is told once the lock is let go, in {@link #unlockAndTell}:
 *     a parked caller is unparked, and an asynchronous call's future is
 *     completed on the completion executor, never under the lock and never
 *     on the caller's thread.</li>
 * <li>{@link #driving}: one thread holds the role, the only one that uses the
 *     connection; the role is handed on here, so each holder sees what the
 *     last one did. While a pending waiter needs a driver, someone holds it:
 *     a caller that may drive, or the background driver.</li>
 * <li>{@link #undriven} counts pending waiters whose caller cannot drive
 *     (asynchronous calls, virtual threads): the background driver works
 *     while it is above 0, and keeps their deadlines; none of them has a
 *     deadline before {@link #nextExpiry}.</li>
 * </ul>
 */
final class Calls {

    final ReentrantLock lock = new ReentrantLock();
    private final Condition room = lock.newCondition();
    private final AdderAddress address;
    private final int maxInFlight;
    private final Line line;
    private final Executor completions;
    private final Runnable wakeBackground;
    private final Consumer<Waiter> done = waiter -> finish(waiter, Waiter.DONE, null);
    /** Ended, or handed the role, under the lock: told once it is let go. */
    private List<Thread> toWake = new ArrayList<>();
    private List<Call> toComplete = new ArrayList<>();
    private int undriven;
    private boolean driving;
    /** Set once, under the lock; read without it by the driver. */
    private volatile AdderException closed;
    /** Written under the lock. */
    private volatile long replayed;
    /** The earliest deadline of the undriven waiters, or {@code Long.MAX_VALUE}: see above. */
    private volatile long nextExpiry = Long.MAX_VALUE;

    Calls(AdderAddress address, int maxInFlight, long callTimeoutNanos, Executor completions, Runnable wakeBackground) {
        this.address = address;
        this.maxInFlight = maxInFlight;
        this.line = new Line(maxInFlight, Math.max(maxInFlight, 16_384), callTimeoutNanos);
        this.completions = completions;
        this.wakeBackground = wakeBackground;
    }

    /**
     * Queues a blocking caller's call or batch, then drives while the role is
     * its own, else parks, until it is over; throws its failure. A virtual
     * thread parks untimed: the background driver keeps its deadline.
     */
    void await(Waiter waiter, Driver driver) {
        if (waiter.mayDrive) {
            Driver.CALLERS.incrementAndGet(); // for the driver's choice to poll
        }
        try {
            if (enqueue(waiter)) {
                driver.drive(waiter);
            } else {
                driver.nudge();
            }
            while (!over(waiter, System.nanoTime(), driver.trouble())) {
                if (takeRole(waiter)) {
                    driver.drive(waiter);
                } else if (!waiter.isPending()) {
                    break; // the unpark that said so may have been spent while this thread waited for the lock
                } else if (waiter.mayDrive) {
                    LockSupport.parkNanos(this, waiter.deadline - System.nanoTime());
                } else {
                    LockSupport.park(this);
                }
            }
            if (takeRole(waiter)) { // handed the role as it ended (the client closed, say): passed on at once
                driver.drive(waiter);
            }
            if (waiter.state != Waiter.DONE) { // a timeout is the call's own; another failure is shared, so a copy
                AdderException error = waiter.error;
                throw error instanceof AdderTimeoutException ? error : new AdderException(error.getMessage(), error);
            }
        } finally {
            if (waiter.mayDrive) {
                Driver.CALLERS.decrementAndGet();
            }
        }
    }

    /**
     * Queues a call (waiting, until its deadline, for room in flight) or a
     * batch. Returns true if its caller takes the role now to drive; a caller
     * that cannot drive hands a free role to the background driver.
     */
    boolean enqueue(Waiter waiter) {
        lock.lock();
        try {
            if (waiter instanceof Call) {
                awaitRoom(waiter.deadline);
            }
            if (closed != null) {
                throw new AdderException(closed.getMessage(), closed);
            }
            line.add(waiter);
            if (!waiter.mayDrive && (undriven++ == 0 || waiter.deadline - nextExpiry < 0)) {
                nextExpiry = waiter.deadline;
            }
            if (driving) {
                return false;
            }
            driving = true;
            if (!waiter.mayDrive) {
                wakeBackground.run();
            }
            return waiter.mayDrive;
        } finally {
            lock.unlock();
        }
    }

    private void awaitRoom(long deadline) {
        while (line.inFlight >= maxInFlight && closed == null) {
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                throw new AdderTimeoutException("timed out waiting for room to send to " + address + " ("
                        + maxInFlight + " calls in flight)");
            }
            if (!driving) { // someone must read the answers that free the room
                driving = true;
                wakeBackground.run();
            }
            try {
                room.awaitNanos(remaining);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AdderException("interrupted while waiting for room to send to " + address, e).as(FailureKind.INTERRUPTED);
            }
        }
    }

    /** Whether the waiter's caller takes the role now: handed to it while it was parked, or free. */
    boolean takeRole(Waiter waiter) {
        lock.lock();
        try {
            if (waiter.promoted || !driving && waiter.mayDrive && waiter.isPending() && closed == null) {
                waiter.promoted = false;
                driving = true;
                return true;
            }
            return false;
        } finally {
            lock.unlock();
        }
    }

    /**
     * From the waiter's own thread: gives it up if its thread was interrupted
     * or its deadline passed ({@code why} says what went wrong meanwhile),
     * passing on a role handed to it. Returns whether the waiter is over.
     */
    boolean over(Waiter waiter, long now, String why) {
        if (!waiter.isPending()) {
            return true;
        }
        boolean interrupted = Thread.currentThread().isInterrupted();
        if (!interrupted && now - waiter.deadline < 0) {
            return false;
        }
        lock.lock();
        try {
            if (interrupted) {
                giveUp(waiter, new AdderException("interrupted while waiting for " + address + " to answer", null)
                        .as(FailureKind.INTERRUPTED));
            } else if (now - waiter.deadline >= 0) { // looked at again: a batch's deadline moves on progress
                giveUp(waiter, waiter.timedOut(address, why));
            }
            if (waiter.promoted && !waiter.isPending() && closed == null) {
                waiter.promoted = false; // passed on; once closed, it stays: the caller's takeRole closes the connection
                handOff();
            }
            return !waiter.isPending();
        } finally {
            unlockAndTell();
        }
    }

    /**
     * Lets go of the role: hands it to the oldest pending caller that may
     * drive, else, if a waiter still needs a driver, to the background
     * driver. Returns true if the client was closed: the role stays taken,
     * and its last holder closes the connection.
     */
    boolean release() {
        lock.lock();
        try {
            return handOff();
        } finally {
            unlockAndTell();
        }
    }

    /** For the background driver: whether a waiter still needs it. */
    boolean backgroundGoesOn() {
        lock.lock();
        try {
            return closed == null && needsBackground();
        } finally {
            lock.unlock();
        }
    }

    private boolean handOff() {
        if (closed != null) {
            return true;
        }
        driving = false;
        Waiter next = line.oldestThatMayDrive();
        if (next != null) {
            driving = true;
            next.promoted = true;
            wake(next.thread);
        } else if (needsBackground()) {
            driving = true;
            wakeBackground.run();
        }
        return false;
    }

    private boolean needsBackground() {
        return undriven > 0 || lock.hasWaiters(room);
    }

    boolean mayHaveUnsent() {
        return line.unsentHint;
    }

    long due() {
        return line.due;
    }

    long nextExpiry() {
        return nextExpiry;
    }

    /** Whether a waiter is queued: nothing to connect for otherwise (when not connected, nothing is in sent). */
    boolean anyPending() {
        lock.lock();
        try {
            return line.anyUnsentPending();
        } finally {
            lock.unlock();
        }
    }

    void fill(ByteBuffer out) {
        lock.lock();
        try {
            line.fill(out);
        } finally {
            lock.unlock();
        }
    }

    int deliver(ByteBuffer in) {
        lock.lock();
        try {
            int matched = line.deliver(in, done);
            room.signalAll();
            return matched;
        } finally {
            unlockAndTell();
        }
    }

    /** Fails the waiters of callers that cannot drive whose deadline has passed; finds the next such deadline. */
    void expire(long now, String why) {
        locked(() -> {
            long[] next = {Long.MAX_VALUE};
            line.forEach(waiter -> {
                if (waiter.mayDrive || !waiter.isPending()) {
                    return;
                }
                if (now - waiter.deadline >= 0) {
                    giveUp(waiter, waiter.timedOut(address, why));
                } else if (next[0] == Long.MAX_VALUE || waiter.deadline - next[0] < 0) {
                    next[0] = waiter.deadline;
                }
            });
            nextExpiry = undriven == 0 ? Long.MAX_VALUE : next[0];
        });
    }

    private void giveUp(Waiter waiter, AdderException why) {
        if (!waiter.isPending()) {
            return;
        }
        finish(waiter, Waiter.FAILED, why);
        if (waiter instanceof Call call && !call.sent) {
            line.abandon();
            room.signal();
        }
    }

    /** The one move out of pending. */
    private void finish(Waiter waiter, int state, AdderException error) {
        waiter.error = error;
        waiter.state = state;
        if (!waiter.mayDrive && --undriven == 0) {
            nextExpiry = Long.MAX_VALUE;
        }
        if (waiter instanceof Call call && call.future != null) {
            toComplete.add(call);
        } else {
            wake(waiter.thread);
        }
    }

    private void wake(Thread thread) {
        if (thread != Thread.currentThread()) {
            toWake.add(thread);
        }
    }

    private void locked(Runnable action) {
        lock.lock();
        try {
            action.run();
        } finally {
            unlockAndTell();
        }
    }

    /** Lets go of the lock, then tells what ended while it was held. */
    private void unlockAndTell() {
        List<Thread> woken = toWake.isEmpty() ? null : toWake;
        List<Call> completed = toComplete.isEmpty() ? null : toComplete;
        if (woken != null) {
            toWake = new ArrayList<>();
        }
        if (completed != null) {
            toComplete = new ArrayList<>();
        }
        lock.unlock();
        if (woken != null) {
            woken.forEach(LockSupport::unpark);
        }
        if (completed != null) {
            Runnable completion = () -> completed.forEach(call -> {
                if (call.state == Waiter.DONE) {
                    call.future.complete(call.value);
                } else {
                    call.future.completeExceptionally(call.error);
                }
            });
            try {
                completions.execute(completion);
            } catch (RuntimeException e) { // shut down, or broken: the futures must complete all the same
                completion.run();
            }
        }
    }

    /**
     * The connection was lost under the calls on it. With replay, they are
     * sent again on the next connection (a batch from its first unanswered
     * pair); without, they fail with {@code cause}. Waiters not yet sent wait
     * for the next connection either way.
     */
    void lost(AdderException cause, boolean replay) {
        locked(() -> {
            replayed += line.lost(replay, waiter -> giveUp(waiter, cause));
            room.signalAll();
        });
    }

    /** No connection can be had: every waiter queued for one fails with {@code cause}. */
    void failUnsent(AdderException cause) {
        locked(() -> line.removeUnsent(waiter -> giveUp(waiter, cause)));
    }

    /**
     * The client is closed: every pending waiter fails with {@code cause},
     * now. Returns true if the role was free, and so is now the caller's, to
     * close the connection; otherwise its holder closes it when it next looks.
     */
    boolean close(AdderException cause) {
        lock.lock();
        try {
            if (closed != null) {
                return false;
            }
            closed = cause;
            line.lost(false, waiter -> giveUp(waiter, cause));
            line.removeUnsent(waiter -> giveUp(waiter, cause));
            room.signalAll();
            boolean free = !driving;
            driving = true;
            return free;
        } finally {
            unlockAndTell();
        }
    }

    boolean isClosed() {
        return closed != null;
    }

    /** Takes and lets go of the lock: what this thread did before is seen by the next thread that takes it. */
    void publish() {
        lock.lock();
        lock.unlock();
    }

    ClientStats stats() {
        lock.lock();
        try {
            return new ClientStats(line.inFlight, replayed);
        } finally {
            lock.unlock();
        }
    }

    long replayed() {
        return replayed;
    }
}
