package dev.adder.client;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The one line of a client's calls, and the driver's role.
 *
 * <p>Invariants, all under {@link #lock}:
 * <ul>
 * <li>{@link #toSend} holds calls and batches whose requests are not yet in
 *     a write buffer, in the order they go out; {@link #sent} holds, in the
 *     order the server will answer, a {@link Call} or a {@link Batch.Run} per
 *     answer still due on the connection. {@link #due} counts those answers.
 *     The next answer read is always for the head of {@code sent}.</li>
 * <li>A waiter's state moves once, from pending to done or failed, here,
 *     and whoever moves it wakes its caller (or completes its future).</li>
 * <li>{@link #calls} counts single calls in the line that take room in
 *     flight: pending ones in {@code toSend}, and every one in {@code sent}
 *     (one given up keeps its slot until its answer comes).</li>
 * <li>{@link #driving}: one thread holds the role, the only one that uses the
 *     connection; it is handed on under the lock, so each holder sees what
 *     the last one did. While a pending call needs a driver, someone holds
 *     it: a caller that may drive, or the background driver.</li>
 * <li>{@link #timed} counts pending calls whose deadline a driver enforces
 *     (asynchronous ones, and those of virtual threads, which park untimed);
 *     while it is above 0, none of them has a deadline before
 *     {@link #nextExpiry}.</li>
 * </ul>
 */
final class Calls {

    /** What a caller that queued may do with the role. */
    static final int WAIT = 0;
    static final int DRIVE = 1;
    static final int STEP = 2;

    final ReentrantLock lock = new ReentrantLock();
    private final Condition room = lock.newCondition();
    private final AdderAddress address;
    private final int maxInFlight;
    private final int batchWindow;
    private final long callTimeoutNanos;
    private final Executor completions;
    private final Runnable wakeBackground;
    private final ArrayDeque<Object> toSend = new ArrayDeque<>();
    private final ArrayDeque<Object> sent = new ArrayDeque<>();
    private int calls;
    /** Written under the lock; read without it by the driver, to bound its waits while answers are due. */
    private volatile long due;
    private int timed;
    private long nextExpiry;
    private int roomWaiters;
    /** Pending batches of virtual threads: the background driver works for them. */
    private int virtualBatches;
    private boolean driving;
    private AdderException closed;
    private volatile boolean closedHint;
    /** Asynchronous calls whose futures are to be completed once the lock is let go. */
    private List<Call> toComplete = new ArrayList<>();
    /** Callers to unpark once the lock is let go: a woken caller wants the lock at once. */
    private List<Thread> toWake = new ArrayList<>();
    /** Incremented at each loss, so that a batch is queued once when its connection is lost. */
    private int generation;
    private long replayed;
    /** Hints for the driver's loop, read without the lock; confirmed under it before acting. */
    private volatile boolean unsentHint;
    private volatile long nextExpiryHint = Long.MAX_VALUE;

    Calls(AdderAddress address, int maxInFlight, long callTimeoutNanos, Executor completions, Runnable wakeBackground) {
        this.address = address;
        this.maxInFlight = maxInFlight;
        this.batchWindow = Math.max(maxInFlight, 16_384);
        this.callTimeoutNanos = callTimeoutNanos;
        this.completions = completions;
        this.wakeBackground = wakeBackground;
    }

    // ---------------------------------------------------------------- queueing

    /** Queues a call, waiting (until its deadline) for room in flight; says what the caller may do with the role. */
    int enqueue(Call call) {
        lock.lock();
        try {
            while (calls >= maxInFlight && closed == null) {
                long remaining = call.deadline - System.nanoTime();
                if (remaining <= 0) {
                    throw new AdderTimeoutException("timed out waiting for room to send to " + address + " ("
                            + maxInFlight + " calls in flight)");
                }
                if (!driving) { // someone must read the answers that free the room
                    driving = true;
                    wakeBackground.run();
                }
                roomWaiters++;
                try {
                    room.awaitNanos(remaining);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AdderException("interrupted while waiting for room to send to " + address, e);
                } finally {
                    roomWaiters--;
                }
            }
            checkNotClosed();
            calls++;
            toSend.add(call);
            unsentHint = true;
            if (call.timedByDriver) {
                if (timed++ == 0 || call.deadline - nextExpiry < 0) {
                    nextExpiry = call.deadline;
                    nextExpiryHint = nextExpiry;
                }
            }
            return roleFor(call);
        } finally {
            lock.unlock();
        }
    }

    int enqueue(Batch batch) {
        lock.lock();
        try {
            checkNotClosed();
            toSend.add(batch);
            batch.queued = true;
            unsentHint = true;
            if (!batch.mayDrive) {
                virtualBatches++;
            }
            return roleFor(batch);
        } finally {
            lock.unlock();
        }
    }

    private int roleFor(Waiter waiter) {
        if (driving) {
            return WAIT;
        }
        driving = true;
        return waiter.mayDrive ? DRIVE : STEP;
    }

    private void checkNotClosed() {
        if (closed != null) {
            throw new AdderException(closed.getMessage(), closed);
        }
    }

    /** Whether the waiter's caller takes the role now: handed to it while it was parked, or free. */
    boolean takeRole(Waiter waiter) {
        lock.lock();
        try {
            if (waiter.promoted) {
                waiter.promoted = false;
                return true;
            }
            if (!driving && waiter.mayDrive && waiter.isPending() && closed == null) {
                driving = true;
                return true;
            }
            return false;
        } finally {
            lock.unlock();
        }
    }

    // ---------------------------------------------------------------- the role

    /**
     * Lets go of the role: hands it to the oldest pending caller that may
     * drive, else, if a call still needs a driver, to the background driver.
     * Returns true if the caller must close the connection: the client was
     * closed, and the role ends with it.
     */
    boolean release() {
        lock.lock();
        try {
            return handOff();
        } finally {
            unlockAndDispatch();
        }
    }

    /** For the background driver: true to drive on (a call still needs it); otherwise lets go as {@link #release}. */
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
            return true; // the role stays taken: nobody drives a closed client
        }
        driving = false;
        Waiter next = oldestThatMayDrive(sent);
        if (next == null) {
            next = oldestThatMayDrive(toSend);
        }
        if (next != null) {
            driving = true;
            next.promoted = true;
            LockSupport.unpark(next.thread);
        } else if (needsBackground()) {
            driving = true;
            wakeBackground.run();
        }
        return false;
    }

    /** Under the lock: a call is pending that no caller of its own may drive for (asynchronous, virtual, or waiting for room). */
    private boolean needsBackground() {
        return timed > 0 || roomWaiters > 0 || virtualBatches > 0;
    }

    private static Waiter oldestThatMayDrive(ArrayDeque<Object> line) {
        for (Object entry : line) {
            Waiter waiter = entry instanceof Batch.Run run ? run.batch : (Waiter) entry;
            if (waiter.mayDrive && waiter.isPending()) {
                return waiter;
            }
        }
        return null;
    }

    // ---------------------------------------------------------------- for the driver

    boolean mayHaveUnsent() {
        return unsentHint;
    }

    boolean expiryDue(long now) {
        return now - nextExpiryHint >= 0;
    }

    /** The next deadline a driver enforces, or 0 if none. */
    long nextExpiry() {
        long next = nextExpiryHint;
        return next == Long.MAX_VALUE ? 0 : next;
    }

    long due() {
        return due;
    }

    /** Whether any caller still waits: nothing to connect for otherwise. */
    boolean anyPending() {
        lock.lock();
        try {
            for (Object entry : toSend) {
                if (((Waiter) entry).isPending()) {
                    return true;
                }
            }
            return false; // not connected: nothing is in sent
        } finally {
            lock.unlock();
        }
    }

    /** Moves queued requests into {@code out} (in write mode), in line order; a batch a chunk at a time. */
    void fill(ByteBuffer out) {
        lock.lock();
        try {
            Object head;
            while (out.remaining() >= Protocol.REQUEST_BYTES && (head = toSend.poll()) != null) {
                if (head instanceof Call call) {
                    if (call.isPending()) {
                        Protocol.encodeRequest(out, call.x, call.y);
                        call.sent = true;
                        sent.add(call);
                        due++;
                    }
                    continue;
                }
                Batch batch = (Batch) head;
                batch.queued = false;
                if (!batch.isPending()) {
                    continue;
                }
                int count = Math.min(out.remaining() / Protocol.REQUEST_BYTES,
                        Math.min(batch.xs.length - batch.next, batchWindow - batch.inFlight));
                for (int i = batch.next, end = batch.next + count; i < end; i++) {
                    Protocol.encodeRequest(out, batch.xs[i], batch.ys[i]);
                }
                batch.next += count;
                batch.inFlight += count;
                due += count;
                if (sent.peekLast() instanceof Batch.Run last && last.batch == batch) {
                    last.count += count;
                } else if (count > 0) {
                    sent.add(new Batch.Run(batch, count));
                }
                if (!batch.allSent() && batch.inFlight < batchWindow) {
                    toSend.add(batch); // at the back: other callers' requests go out between its chunks
                    batch.queued = true;
                }
            }
            unsentHint = !toSend.isEmpty();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Matches each whole answer in {@code in} (in read mode) to the head of
     * the line; returns how many it matched. Throws {@link Violation} if the
     * server sent what no request asked for.
     */
    int deliver(ByteBuffer in) {
        int matched = 0;
        lock.lock();
        try {
            long answered = 0; // due is volatile: written once, at the end
            int freed = 0;
            while (in.remaining() >= Protocol.RESPONSE_BYTES) {
                Object head = sent.peek();
                if (head == null) {
                    due -= answered;
                    answered = 0;
                    throw new Violation("the server at " + address + " sent more answers than it was asked for");
                }
                if (head instanceof Call call) {
                    long value = Protocol.decodeResponse(in);
                    matched++;
                    answered++;
                    sent.poll();
                    calls--;
                    freed++;
                    if (call.isPending()) {
                        call.value = value;
                        finish(call, Waiter.DONE, null);
                    }
                    continue;
                }
                // a run of a batch's answers: as many as are here, in one go
                Batch.Run run = (Batch.Run) head;
                Batch batch = run.batch;
                int count = Math.min(run.count, in.remaining() / Protocol.RESPONSE_BYTES);
                if (batch.isPending()) {
                    long[] sums = batch.sums;
                    for (int i = batch.received, end = batch.received + count; i < end; i++) {
                        sums[i] = Protocol.decodeResponse(in);
                    }
                    batch.received += count;
                } else { // given up: its caller has its array back, nothing is written there
                    in.position(in.position() + count * Protocol.RESPONSE_BYTES);
                }
                matched += count;
                answered += count;
                batch.inFlight -= count;
                run.count -= count;
                if (run.count == 0) {
                    sent.poll();
                }
                if (!batch.isPending()) {
                    continue;
                }
                batch.deadline = System.nanoTime() + callTimeoutNanos;
                if (batch.received == batch.xs.length) {
                    finish(batch, Waiter.DONE, null);
                } else if (!batch.queued && !batch.allSent()) {
                    toSend.add(batch); // its window has room again
                    batch.queued = true;
                    unsentHint = true;
                }
            }
            due -= answered;
            if (sent.isEmpty() && in.hasRemaining()) {
                throw new Violation("the server at " + address + " sent " + in.remaining()
                        + " bytes that answer no request");
            }
            if (freed > 0 && roomWaiters > 0) {
                room.signalAll();
            }
            return matched;
        } finally {
            unlockAndDispatch();
        }
    }

    /** The server broke the protocol. */
    static final class Violation extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Violation(String message) {
            super(message, null, false, false);
        }
    }

    /** Fails the calls the driver times whose deadline has passed; recomputes the next such deadline. */
    void expire(long now, String why) {
        lock.lock();
        try {
            long next = Long.MAX_VALUE;
            for (ArrayDeque<Object> line : List.of(toSend, sent)) {
                for (Object entry : line) {
                    if (!(entry instanceof Call call) || !call.timedByDriver || !call.isPending()) {
                        continue;
                    }
                    if (now - call.deadline >= 0) {
                        giveUpLocked(call, new AdderTimeoutException("timed out waiting for an answer from " + address + why));
                    } else if (next == Long.MAX_VALUE || call.deadline - next < 0) {
                        next = call.deadline;
                    }
                }
            }
            nextExpiry = next;
            nextExpiryHint = timed == 0 ? Long.MAX_VALUE : next;
        } finally {
            unlockAndDispatch();
        }
    }

    /** The caller gives up its call or batch (its deadline, an interrupt); passes on the role if it was handed one. */
    void giveUp(Waiter waiter, AdderException why) {
        lock.lock();
        try {
            giveUpLocked(waiter, why);
            if (waiter.promoted) {
                waiter.promoted = false;
                handOff();
            }
        } finally {
            unlockAndDispatch();
        }
    }

    /**
     * Gives the batch up if no answer came for it within the call timeout;
     * returns whether it is over (given up now or before, or done).
     */
    boolean expireBatch(Batch batch, long now, String why) {
        lock.lock();
        try {
            if (batch.isPending() && now - batch.deadline >= 0) {
                giveUpLocked(batch, new AdderTimeoutException("timed out waiting for answers from " + address + " ("
                        + batch.received + " of " + batch.xs.length + " received)" + why));
                if (batch.promoted) {
                    batch.promoted = false;
                    handOff();
                }
            }
            return !batch.isPending();
        } finally {
            unlockAndDispatch();
        }
    }

    private void giveUpLocked(Waiter waiter, AdderException why) {
        if (!waiter.isPending()) {
            return;
        }
        if (waiter instanceof Call call && !call.sent) {
            calls--; // skipped when its turn to be written comes
            if (roomWaiters > 0) {
                room.signal();
            }
        }
        finish(waiter, Waiter.FAILED, why);
    }

    /** The one move out of pending: records the outcome and wakes the caller, or queues the future's completion. */
    private void finish(Waiter waiter, int state, AdderException error) {
        waiter.error = error;
        waiter.state = state;
        if (waiter instanceof Call call) {
            if (call.timedByDriver && --timed == 0) {
                nextExpiryHint = Long.MAX_VALUE;
            }
            if (call.isAsync()) {
                toComplete.add(call);
                return;
            }
        } else if (!waiter.mayDrive) {
            virtualBatches--;
        }
        if (waiter.thread != Thread.currentThread()) {
            toWake.add(waiter.thread);
        }
    }

    /**
     * Lets go of the lock, then wakes the callers whose calls ended and
     * completes, on the completion executor, the futures of those that were
     * asynchronous: never under the lock.
     */
    private void unlockAndDispatch() {
        List<Thread> woken = null;
        List<Call> ended = null;
        if (!toWake.isEmpty()) {
            woken = toWake;
            toWake = new ArrayList<>();
        }
        if (!toComplete.isEmpty()) {
            ended = toComplete;
            toComplete = new ArrayList<>();
        }
        lock.unlock();
        if (woken != null) {
            for (Thread thread : woken) {
                LockSupport.unpark(thread);
            }
        }
        if (ended != null) {
            complete(ended);
        }
    }

    private void complete(List<Call> ended) {
        Runnable completion = () -> {
            for (Call call : ended) {
                if (call.state == Waiter.DONE) {
                    call.future.complete(call.value);
                } else {
                    call.future.completeExceptionally(call.error);
                }
            }
        };
        try {
            completions.execute(completion);
        } catch (RejectedExecutionException e) {
            completion.run(); // an executor shut down must not leave futures that never complete
        }
    }

    // ---------------------------------------------------------------- failures

    /**
     * The connection was lost under the calls in {@code sent}. With replay,
     * they go back to the front of the line, in their order, to be sent on
     * the next connection (a batch from its first unanswered pair); without,
     * they fail. Calls not yet sent wait for the next connection either way.
     * Returns how many were sent again.
     */
    long lost(AdderException cause, boolean replay) {
        lock.lock();
        try {
            generation++;
            ArrayDeque<Object> again = new ArrayDeque<>();
            long count = 0;
            for (Object entry : sent) {
                if (entry instanceof Call call) {
                    if (replay && call.isPending()) {
                        call.sent = false;
                        again.add(call);
                        count++;
                    } else {
                        calls--;
                        giveUpLocked(call, cause);
                    }
                    continue;
                }
                Batch batch = ((Batch.Run) entry).batch;
                batch.inFlight = 0;
                if (!replay) {
                    giveUpLocked(batch, cause);
                } else if (batch.isPending() && batch.generation != generation) {
                    batch.generation = generation;
                    batch.next = batch.received;
                    again.add(batch);
                    batch.queued = true;
                    count++;
                }
            }
            sent.clear();
            due = 0;
            for (Object entry : toSend) {
                if (!(entry instanceof Batch batch && batch.generation == generation)) {
                    again.add(entry);
                }
            }
            toSend.clear();
            toSend.addAll(again);
            unsentHint = !toSend.isEmpty();
            replayed += count;
            if (roomWaiters > 0) {
                room.signalAll();
            }
            return count;
        } finally {
            unlockAndDispatch();
        }
    }

    /** The server broke the protocol: the calls on the connection fail, never replayed; those not sent wait. */
    void violated(AdderException cause) {
        lost(cause, false);
    }

    /** No connection can be had: every call waiting for one fails with {@code cause}. */
    void failUnsent(AdderException cause) {
        lock.lock();
        try {
            for (Object entry : toSend) {
                giveUpLocked((Waiter) entry, cause);
            }
            toSend.clear();
            unsentHint = false;
        } finally {
            unlockAndDispatch();
        }
    }

    /**
     * The client is closed: every pending call fails with {@code cause}, now.
     * Returns true if the role was free, and so is now the caller's, to close
     * the connection; otherwise its holder closes it when it next looks.
     */
    boolean close(AdderException cause) {
        lock.lock();
        try {
            if (closed != null) {
                return false;
            }
            closed = cause;
            closedHint = true;
            for (ArrayDeque<Object> line : List.of(sent, toSend)) {
                for (Object entry : line) {
                    Waiter waiter = entry instanceof Batch.Run run ? run.batch : (Waiter) entry;
                    if (waiter.isPending()) {
                        finish(waiter, Waiter.FAILED, cause);
                    }
                }
            }
            sent.clear();
            toSend.clear();
            unsentHint = false;
            room.signalAll();
            boolean free = !driving;
            driving = true;
            return free;
        } finally {
            unlockAndDispatch();
        }
    }

    boolean isClosed() {
        return closedHint;
    }

    /** Lets go of the lock once: what this thread did before is seen by the next thread that takes it. */
    void publish() {
        lock.lock();
        lock.unlock();
    }

    long replayed() {
        lock.lock();
        try {
            return replayed;
        } finally {
            lock.unlock();
        }
    }

    static long millis(long nanos) {
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(nanos + 999_999));
    }
}
