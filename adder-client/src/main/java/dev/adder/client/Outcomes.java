package dev.adder.client;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The ends of waiters, told to their callers once the line's lock is let go:
 * a parked caller is unparked (a woken caller wants the lock at once), and
 * an asynchronous call's future is completed on the completion executor,
 * never under the lock and never on the caller's thread. Noted under the
 * lock, by {@link #ended}; told by {@link #unlockAndTell}.
 */
final class Outcomes {

    private final Executor completions;
    private List<Thread> toWake = new ArrayList<>();
    private List<Call> toComplete = new ArrayList<>();

    Outcomes(Executor completions) {
        this.completions = completions;
    }

    /** Under the lock: the waiter's state has just moved out of pending. */
    void ended(Waiter waiter) {
        if (waiter instanceof Call call && call.future != null) {
            toComplete.add(call);
        } else {
            wake(waiter.thread);
        }
    }

    /** Under the lock: the thread is to be unparked (it ended, or the role was handed to it). */
    void wake(Thread thread) {
        if (thread != Thread.currentThread()) {
            toWake.add(thread);
        }
    }

    /** Lets go of the lock, then tells what ended while it was held. */
    void unlockAndTell(ReentrantLock lock) {
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
            complete(completed);
        }
    }

    private void complete(List<Call> completed) {
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
