package dev.adder.client;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * One connection shared by every caller of a client: requests of concurrent
 * callers are written together, and answers are matched to calls first in,
 * first out, since the server answers in order.
 *
 * <p>No thread of its own does the work. Writing: a caller that queues a
 * request and finds no one writing writes every queued request in one go;
 * one that finds a writer leaves its request to it. Reading: the first
 * caller to wait finds no reader and becomes it; it reads answers for
 * everyone, completes their calls, and when its own answer is in, hands the
 * role to the next waiting caller. The others park. A single caller thus
 * writes and reads itself, with no thread hand-off; many callers share each
 * system call. Asynchronous calls have no waiting caller, so when only they
 * remain the client's reader thread takes the role.
 *
 * <p>A failure of the connection fails every call on it, once; the client
 * then connects again for the next call, and, with replay on, sends again
 * the calls that were lost with it.
 */
final class Pipeline {

    private static final int OUT_BUFFER_BYTES = 16 * 1024;
    private static final int IN_BUFFER_BYTES = 64 * 1024;
    /**
     * The longest a request queued behind answers still due waits to be
     * written: a reader waiting for answers wakes at least this often to
     * write it, even from a server that answers nothing until it has more.
     */
    private static final long DEFERRED_WRITE_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    private final AdderAddress address;
    final SocketChannel channel;
    private final Selector readSelector;
    private final Selector writeSelector;
    private final SelectionKey readKey;
    /** Interest 0 but while a writer waits: a writable socket in an epoll set costs the kernel work per event. */
    private final SelectionKey writeKey;
    private final int maxInFlight;
    private final Executor completions;
    /** Hands the reading role to the client's reader thread. */
    private final Consumer<Pipeline> needsReader;
    /** Takes the asynchronous calls of a lost connection to send them again; null: they fail. */
    private final Consumer<List<Call>> replayAsync;

    private final ReentrantLock lock = new ReentrantLock();
    /** Signalled when a slot in flight frees up, or the pipeline becomes idle. */
    private final Condition changed = lock.newCondition();
    /** Calls whose answers are due, in the order the server will send them. */
    private final ArrayDeque<Call> inFlight = new ArrayDeque<>();
    /** Calls queued but not yet copied into the write buffer. */
    private final ArrayDeque<Call> toSend = new ArrayDeque<>();
    /** Requests queued or left in the write buffer: there is something to write. Read without the lock. */
    private volatile boolean unwritten;
    /** Requests taken into the write buffer, and answers matched, since the connection opened. */
    private volatile long committed;
    private volatile long answered;
    /** Someone holds the reading role. Written under the lock; read without it on fast paths. */
    private volatile boolean reading;
    /** Calls in flight, for reading without the lock. */
    private volatile int inFlightCount;
    /**
     * The reader is working, not waiting in its selector, and will write what
     * is queued before it next waits: a caller that queues now need not write.
     */
    private volatile boolean readerWillWrite;
    /**
     * Calls whose deadline the reader enforces: asynchronous ones, and those
     * of virtual threads, which park without a timeout (a timed park of a
     * virtual thread arms and cancels a timer every time).
     */
    private int readerTimed;
    /** Set once, under the lock; read without it to stop waiting. */
    private volatile AdderException failure;

    /** One writer at a time; it owns {@link #out}. */
    private final ReentrantLock writing = new ReentrantLock();
    private final ByteBuffer out = ByteBuffer.allocateDirect(OUT_BUFFER_BYTES).order(Protocol.BYTE_ORDER).flip();
    /** Owned by the reader: answers read, and at most 7 bytes of one not yet complete. */
    private final ByteBuffer in = ByteBuffer.allocateDirect(IN_BUFFER_BYTES).order(Protocol.BYTE_ORDER);
    private final ByteBuffer probe = ByteBuffer.allocate(1);

    Pipeline(AdderAddress address, SocketChannel channel, Selector readSelector, int maxInFlight,
            Executor completions, Consumer<Pipeline> needsReader, Consumer<List<Call>> replayAsync) throws IOException {
        this.address = address;
        this.channel = channel;
        this.readSelector = readSelector;
        this.readKey = channel.keyFor(readSelector);
        this.writeSelector = Selector.open();
        try {
            this.writeKey = channel.register(writeSelector, 0);
        } catch (IOException | RuntimeException e) {
            writeSelector.close();
            throw e;
        }
        this.maxInFlight = maxInFlight;
        this.completions = completions;
        this.needsReader = needsReader;
        this.replayAsync = replayAsync;
        readKey.interestOps(SelectionKey.OP_READ);
    }

    boolean isFailed() {
        lock.lock();
        try {
            return failure != null;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Whether the connection can take a call: not failed and, if idle, not
     * closed by the server meanwhile (between calls the server owes nothing,
     * so a read must find nothing; end of stream means it closed the
     * connection, a restart or an idle timeout, and the next call connects
     * again: not a retry, nothing was sent).
     */
    boolean isUsable() {
        if (failure != null) {
            return false;
        }
        if (inFlightCount > 0 || reading) {
            return true; // busy: the server owes answers, so there is nothing to probe
        }
        lock.lock();
        try {
            if (failure != null) {
                return false;
            }
            if (!inFlight.isEmpty() || reading || writing.isLocked()) {
                return true;
            }
            probe.clear();
            int n;
            try {
                n = channel.read(probe);
            } catch (IOException e) {
                n = -1;
            }
            if (n != 0) {
                fail(n < 0 ? new ConnectionLostException("the server closed the connection to " + address
                        + " while it was idle", null, false)
                        : new AdderException("the server at " + address + " sent bytes that answer no request", null));
                return false;
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    // ---------------------------------------------------------------- sending

    /** Queues the call, waiting (until its deadline) for room in flight, and sees that its request is written. */
    void submit(Call call) {
        lock.lock();
        try {
            while (failure == null && inFlight.size() >= maxInFlight) {
                long remaining = call.deadline - System.nanoTime();
                if (remaining <= 0) {
                    throw new AdderTimeoutException("timed out waiting for room to send to " + address
                            + " (" + maxInFlight + " calls in flight)");
                }
                try {
                    changed.awaitNanos(remaining);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AdderException("interrupted while waiting for room to send to " + address, e);
                }
            }
            if (failure != null) {
                // the call was not sent: to the client this connection is one that could not be had
                throw failure instanceof ConnectionLostException
                        ? new ConnectionLostException(failure.getMessage(), failure, true)
                        : new AdderException(failure.getMessage(), failure);
            }
            inFlight.add(call);
            inFlightCount = inFlight.size();
            toSend.add(call);
            unwritten = true;
            if (!call.mayRead) {
                readerTimed++;
            }
        } finally {
            lock.unlock();
        }
        // Read after queueing. A reader that is working writes what is queued before it next waits; one
        // that waits for answers still due wakes when the next comes, and writes it then: so under load
        // the requests of many callers go out in one write, and a lone caller still writes its own.
        if (!readerWillWrite && !(reading && committed - answered > 0)) {
            writeQueued(call.deadline);
        }
        if (call.isAsync()) {
            lock.lock();
            try {
                if (!reading && failure == null && call.state == Call.PENDING) {
                    reading = true;
                    needsReader.accept(this);
                }
            } finally {
                lock.unlock();
            }
        }
    }

    /**
     * Writes every queued request, unless another caller is writing: it
     * will write this one too, since it looks again for queued requests
     * after it lets go of the role.
     */
    private void writeQueued(long deadline) {
        while (unwritten && writing.tryLock()) {
            try {
                if (!writeAll(deadline)) {
                    return; // the socket stayed full until the deadline; the next writer goes on
                }
            } catch (IOException e) {
                fail(failure("writing to", e));
                return;
            } finally {
                writing.unlock();
            }
            if (failure != null) {
                return;
            }
        }
    }

    /** Holding {@link #writing}: writes until nothing is queued; false if the deadline passed first. */
    private boolean writeAll(long deadline) throws IOException {
        while (true) {
            if (!out.hasRemaining()) {
                out.clear();
                lock.lock();
                try {
                    Call next;
                    long taken = 0;
                    while (out.remaining() >= Protocol.REQUEST_BYTES && (next = toSend.poll()) != null) {
                        Protocol.encodeRequest(out, next.x, next.y);
                        taken++;
                    }
                    committed += taken;
                } finally {
                    lock.unlock();
                }
                out.flip();
                if (!out.hasRemaining()) {
                    lock.lock();
                    try {
                        // cleared under the lock that queues, so a call queued from here on sets it again
                        unwritten = !toSend.isEmpty();
                        if (!unwritten) {
                            return true;
                        }
                    } finally {
                        lock.unlock();
                    }
                    continue;
                }
            }
            if (channel.write(out) == 0 && out.hasRemaining()) {
                long remaining = deadline - System.nanoTime();
                if (remaining <= 0) {
                    return false;
                }
                try {
                    writeKey.interestOps(SelectionKey.OP_WRITE);
                    writeSelector.select(millis(remaining));
                    writeSelector.selectedKeys().clear();
                    writeKey.interestOps(0);
                } catch (ClosedSelectorException | java.nio.channels.CancelledKeyException closed) {
                    return true; // the connection failed meanwhile
                }
                if (failure != null) {
                    return true;
                }
            }
        }
    }

    // ---------------------------------------------------------------- waiting

    /** Waits for the call's answer, reading for everyone whenever the reading role is free or handed over. */
    long await(Call call) {
        while (true) {
            if (call.state != Call.PENDING) {
                return outcome(call); // the usual way back after an unpark: no lock needed to see it
            }
            boolean lead = false;
            // Checked under the lock, right before parking: an unpark that came while this thread
            // waited for the lock was spent by the lock itself, so the state is what tells.
            lock.lock();
            try {
                if (call.state == Call.PENDING && failure == null) {
                    if (call.mayRead) {
                        lead = call.promoted || !reading;
                        if (lead) {
                            call.promoted = false;
                            reading = true;
                        }
                    } else if (!reading) {
                        reading = true;
                        needsReader.accept(this);
                    }
                }
            } finally {
                lock.unlock();
            }
            if (call.state != Call.PENDING) {
                return outcome(call);
            }
            if (lead) {
                read(call, 0);
                continue;
            }
            long remaining = call.deadline - System.nanoTime();
            if (remaining <= 0) {
                giveUp(call, null);
                continue;
            }
            if (call.mayRead) {
                LockSupport.parkNanos(this, remaining);
            } else {
                LockSupport.park(this); // the reader fails the call at its deadline, and unparks this thread
            }
            if (Thread.interrupted()) {
                giveUp(call, new InterruptedException());
            }
        }
    }

    /** The answer of a call that is no longer pending, or its failure thrown. */
    private static long outcome(Call call) {
        if (call.state == Call.DONE) {
            return call.value;
        }
        if (call.error instanceof AdderTimeoutException timeout) {
            throw timeout; // this call's own: a timeout or an interrupt is never shared
        }
        throw new AdderException(call.error.getMessage(), call.error);
    }

    /**
     * The caller stops waiting: its call fails alone, keeping its slot so
     * that its answer is dropped in turn. Does nothing if the call is done.
     */
    private void giveUp(Call call, InterruptedException interrupt) {
        lock.lock();
        try {
            if (call.state != Call.PENDING) {
                return;
            }
            if (interrupt != null) {
                Thread.currentThread().interrupt();
            }
            call.error = interrupt != null
                    ? new AdderException("interrupted while waiting for an answer from " + address, interrupt)
                    : new AdderTimeoutException("timed out waiting for an answer from " + address);
            call.state = Call.FAILED;
            if (call.promoted) {
                call.promoted = false;
                handOff();
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Holding the reading role: reads answers for every call until
     * {@code mine} is answered or given up (or, with {@code mine} null, until
     * nothing is in flight or, if {@code until} is not 0, that time), then
     * hands the role on.
     */
    void read(Call mine, long until) {
        readerWillWrite = true;
        try {
            while (true) {
                if (mine != null && mine.state != Call.PENDING) {
                    return;
                }
                int n = channel.read(in);
                if (n < 0) {
                    fail(endOfStream());
                    return;
                }
                if (n > 0) {
                    deliver();
                    writeQueued(mine != null ? mine.deadline : System.nanoTime() + TimeUnit.SECONDS.toNanos(1));
                    continue;
                }
                long now = System.nanoTime();
                long wakeAt = expireReaderTimed(now);
                if (mine != null) {
                    if (now - mine.deadline >= 0) {
                        giveUp(mine, null);
                        return;
                    }
                    wakeAt = wakeAt == 0 || mine.deadline - wakeAt < 0 ? mine.deadline : wakeAt;
                } else if (idle() || until != 0 && now - until >= 0) {
                    return;
                } else if (until != 0) {
                    wakeAt = wakeAt == 0 || until - wakeAt < 0 ? until : wakeAt;
                }
                long wait = wakeAt == 0 ? TimeUnit.SECONDS.toNanos(1) : Math.max(1, wakeAt - now);
                if (committed - answered > 0) {
                    wait = Math.min(wait, DEFERRED_WRITE_NANOS); // callers may leave requests to this reader meanwhile
                }
                readerWillWrite = false; // cleared before looking: a caller that still saw it set queued before this
                writeQueued(mine != null ? mine.deadline : now + wait);
                try {
                    readSelector.select(millis(wait));
                    readSelector.selectedKeys().clear();
                } catch (ClosedSelectorException closed) {
                    return; // the connection failed meanwhile
                } finally {
                    readerWillWrite = true;
                }
                if (failure != null) {
                    return;
                }
                if (mine != null && Thread.interrupted()) {
                    giveUp(mine, new InterruptedException());
                    return;
                }
            }
        } catch (IOException e) {
            fail(failure("reading from", e));
        } finally {
            readerWillWrite = false;
            writeQueued(System.nanoTime() + TimeUnit.SECONDS.toNanos(1)); // what was left to this reader
            lock.lock();
            try {
                handOff();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Matches each complete answer read to the oldest call in flight. */
    private void deliver() {
        in.flip();
        List<Call> async = null;
        AdderException violation = null;
        lock.lock();
        try {
            while (in.remaining() >= Protocol.RESPONSE_BYTES) {
                long value = Protocol.decodeResponse(in);
                Call call = inFlight.poll();
                inFlightCount = inFlight.size();
                answered++;
                if (call == null) {
                    violation = new AdderException("the server at " + address
                            + " sent more answers than it was asked for", null);
                    break;
                }
                changed.signal();
                if (!call.mayRead) {
                    readerTimed--;
                }
                if (call.state != Call.PENDING) {
                    continue; // its caller gave up (a failed call still in line): the late answer goes nowhere
                }
                call.value = value;
                call.state = Call.DONE;
                if (call.isAsync()) {
                    if (async == null) {
                        async = new ArrayList<>();
                    }
                    async.add(call);
                } else if (call.waiter != Thread.currentThread()) {
                    LockSupport.unpark(call.waiter);
                }
            }
            if (inFlight.isEmpty()) {
                if (violation == null && in.hasRemaining()) {
                    violation = new AdderException("the server at " + address + " sent " + in.remaining()
                            + " bytes that answer no request", null);
                }
                changed.signalAll();
            }
        } finally {
            lock.unlock();
        }
        in.compact();
        if (async != null) {
            complete(async);
        }
        if (violation != null) {
            fail(violation);
        }
    }

    /** Asynchronous calls are completed on the completion executor, never inside the reading loop. */
    private void complete(List<Call> calls) {
        completions.execute(() -> {
            for (Call call : calls) {
                if (call.state == Call.DONE) {
                    call.future.complete(call.value);
                } else {
                    call.future.completeExceptionally(call.error);
                }
            }
        });
    }

    /**
     * Fails the calls whose deadline the reader enforces once they are past
     * it; returns the next deadline of one, or 0.
     */
    private long expireReaderTimed(long now) {
        if (readerTimed == 0) {
            return 0;
        }
        List<Call> expired = null;
        long next = 0;
        lock.lock();
        try {
            for (Call call : inFlight) {
                if (call.mayRead || call.state != Call.PENDING) {
                    continue;
                }
                if (now - call.deadline >= 0) {
                    call.error = new AdderTimeoutException("timed out waiting for an answer from " + address);
                    call.state = Call.FAILED;
                    if (call.isAsync()) {
                        if (expired == null) {
                            expired = new ArrayList<>();
                        }
                        expired.add(call);
                    } else {
                        LockSupport.unpark(call.waiter);
                    }
                } else {
                    next = call.deadline;
                    break; // deadlines follow the order of calls
                }
            }
        } finally {
            lock.unlock();
        }
        if (expired != null) {
            complete(expired);
        }
        return next;
    }

    private boolean idle() {
        lock.lock();
        try {
            return inFlight.isEmpty();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Under the lock: gives the reading role to the oldest caller waiting on
     * a platform thread, else, if a call still waits (asynchronous, or on a
     * virtual thread), to the reader thread. Answers owed only to calls that
     * gave up are left for whoever reads next.
     */
    private void handOff() {
        reading = false;
        if (failure == null && !inFlight.isEmpty()) {
            boolean waiting = false;
            for (Call call : inFlight) {
                if (call.state != Call.PENDING) {
                    continue;
                }
                if (call.mayRead) {
                    reading = true;
                    call.promoted = true;
                    LockSupport.unpark(call.waiter);
                    return;
                }
                waiting = true;
            }
            if (waiting) {
                reading = true;
                needsReader.accept(this);
                return;
            }
        }
        changed.signalAll();
    }

    // ---------------------------------------------------------------- exclusive use

    /** A batch that owns the connection: no other call is in flight while it runs. */
    interface Batch<T> {
        T run(SocketChannel channel, Selector selector) throws IOException;
    }

    /**
     * Runs {@code batch} once every call in flight is answered and while no
     * other call may read or write; waits (until the deadline) for that.
     */
    <T> T exclusively(long deadline, Batch<T> batch) {
        try {
            if (!writing.tryLock(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                throw inFlightTimeout();
            }
        } catch (InterruptedException e) {
            throw inFlightInterrupted(e);
        }
        try {
            if (out.hasRemaining() && !writeAll(deadline)) { // requests a writer left when its deadline passed
                throw new AdderTimeoutException("timed out writing the calls in flight to " + address);
            }
            while (true) {
                boolean drain;
                lock.lock();
                try {
                    while (failure == null && reading) {
                        long remaining = deadline - System.nanoTime();
                        if (remaining <= 0) {
                            throw inFlightTimeout();
                        }
                        changed.awaitNanos(remaining);
                    }
                    if (failure != null) {
                        throw new AdderException(failure.getMessage(), failure);
                    }
                    reading = true;
                    drain = !inFlight.isEmpty();
                } finally {
                    lock.unlock();
                }
                if (!drain) {
                    break;
                }
                writeAll(deadline); // requests queued meanwhile, which no one else may write now
                read(null, deadline); // answers no one else is reading: calls given up, or callers yet to wait
                if (System.nanoTime() - deadline >= 0) {
                    throw inFlightTimeout();
                }
            }
            readKey.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
            try {
                return batch.run(channel, readSelector);
            } catch (IOException e) {
                AdderException failed = failure("calling", e);
                fail(failed);
                throw failed;
            } catch (AdderException e) {
                fail(e);
                throw e;
            } finally {
                if (readKey.isValid()) {
                    readKey.interestOps(SelectionKey.OP_READ);
                }
                lock.lock();
                try {
                    handOff();
                } finally {
                    lock.unlock();
                }
            }
        } catch (InterruptedException e) {
            throw inFlightInterrupted(e);
        } catch (IOException e) {
            AdderException failed = failure("writing to", e);
            fail(failed);
            throw failed;
        } finally {
            writing.unlock();
            writeQueuedByOthers();
        }
    }

    private AdderTimeoutException inFlightTimeout() {
        return new AdderTimeoutException("timed out waiting for the calls in flight to " + address);
    }

    /** Keeps the interrupt status, as every wait of the client does. */
    private AdderException inFlightInterrupted(InterruptedException e) {
        Thread.currentThread().interrupt();
        return new AdderException("interrupted while waiting for the calls in flight to " + address, e);
    }

    /** Callers that queued while the role was held left their requests to its holder, as to any writer. */
    private void writeQueuedByOthers() {
        long deadline;
        lock.lock();
        try {
            Call oldest = toSend.peek();
            if (oldest == null || failure != null) {
                return;
            }
            deadline = oldest.deadline;
        } finally {
            lock.unlock();
        }
        writeQueued(deadline);
    }

    // ---------------------------------------------------------------- failing

    /**
     * Fails every call on the connection, once, and closes it. If the
     * connection was lost and replay is on, its asynchronous calls go to be
     * sent again instead; the blocking ones see the loss and send again
     * themselves.
     */
    void fail(AdderException cause) {
        List<Call> async = new ArrayList<>();
        lock.lock();
        try {
            if (failure != null) {
                return;
            }
            failure = cause;
            for (Call call : inFlight) {
                if (call.state == Call.PENDING) {
                    call.error = cause;
                    call.state = Call.FAILED;
                    if (call.isAsync()) {
                        async.add(call);
                    } else {
                        LockSupport.unpark(call.waiter);
                    }
                }
            }
            inFlight.clear();
            inFlightCount = 0;
            toSend.clear();
            unwritten = false;
            readerTimed = 0;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        if (!async.isEmpty()) {
            if (replayAsync != null && cause instanceof ConnectionLostException) {
                replayAsync.accept(async);
            } else {
                complete(async);
            }
        }
        readSelector.wakeup();
        writeSelector.wakeup();
        try {
            channel.close();
        } catch (IOException ignored) {
            // the connection is being dropped anyway
        }
        try {
            writeSelector.close();
            readSelector.close();
        } catch (IOException ignored) {
            // nothing is left to release
        }
    }

    private AdderException endOfStream() {
        int partial = in.position();
        return new ConnectionLostException(partial == 0
                ? "the server closed the connection to " + address + " with calls in flight"
                : "the server closed the connection to " + address + " in the middle of an answer ("
                        + partial + " of " + Protocol.RESPONSE_BYTES + " bytes)", null, false);
    }

    private AdderException failure(String what, IOException e) {
        String reason = e.getMessage() == null ? e.toString() : e.getMessage();
        return new ConnectionLostException("call to " + address + " failed " + what + " the connection: " + reason, e,
                false);
    }

    private static long millis(long nanos) {
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(nanos + 999_999));
    }
}
