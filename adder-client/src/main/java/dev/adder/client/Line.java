package dev.adder.client;

import dev.adder.core.Protocol;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.List;
import java.util.function.Consumer;

/**
 * The first-in-first-out line of a client's calls and batches, and how they
 * go on the wire. Used only under the lock of {@link Calls}, which moves
 * waiters out of pending; this class only orders them.
 *
 * <p>Invariants: {@link #toSend} holds calls and batches whose requests are
 * not yet in a write buffer, in the order they go out; {@link #sent} holds a
 * {@link Call} or a {@link Batch.Run} per answer still due on the connection,
 * in the order the server answers, and {@link #due} counts those answers, so
 * the next answer read is always for the head of {@code sent}.
 * {@link #inFlight} counts the single calls that take room: pending in
 * {@code toSend}, and all in {@code sent} (a call given up keeps its slot
 * until its answer comes, so its late answer is dropped there).
 */
final class Line {

    private final ArrayDeque<Object> toSend = new ArrayDeque<>();
    private final ArrayDeque<Object> sent = new ArrayDeque<>();
    /** The calls the line may hold (maxInFlight). */
    private final int maxHeld;
    private final int batchWindow;
    private final long callTimeoutNanos;
    int inFlight;
    /** Calls given up in {@code toSend}: taken out in bulk when they are half of it (see {@link #abandon}). */
    private int abandoned;
    /** Incremented at each loss, so that a batch is put back in line once per loss. */
    private int generation;
    /** Written under the lock, read by the driver without it (and confirmed under it before acting). */
    volatile long due;
    volatile boolean unsentHint;

    Line(int maxHeld, int batchWindow, long callTimeoutNanos) {
        this.maxHeld = maxHeld;
        this.batchWindow = batchWindow;
        this.callTimeoutNanos = callTimeoutNanos;
    }

    void add(Waiter waiter) {
        // out in bulk: when they are half the line (amortized), or when the line would grow past the
        // calls it may hold (a server that reads nothing while calls time out): then it holds at most
        // that many entries, dead ones (and their futures) included, and 64 more
        if (abandoned > 64 && (abandoned > toSend.size() / 2 || toSend.size() + sent.size() >= maxHeld)) {
            toSend.removeIf(entry -> entry instanceof Call call && !call.isPending());
            abandoned = 0;
        }
        toSend.add(waiter);
        unsentHint = true;
        if (waiter instanceof Batch batch) {
            batch.queued = true;
        } else {
            inFlight++;
        }
    }

    /** Moves queued requests into {@code out} (in write mode), in line order; a batch a chunk at a time. */
    void fill(ByteBuffer out) {
        Object head;
        while (out.remaining() >= Protocol.REQUEST_BYTES && (head = toSend.poll()) != null) {
            if (head instanceof Call call) {
                if (call.isPending()) {
                    Protocol.encodeRequest(out, call.x, call.y);
                    call.sent = true;
                    sent.add(call);
                    due++;
                } else {
                    abandoned--;
                }
                continue;
            }
            Batch batch = (Batch) head;
            batch.queued = false;
            if (!batch.isPending()) {
                continue;
            }
            int count = batch.encode(out, batchWindow);
            due += count;
            if (sent.peekLast() instanceof Batch.Run last && last.batch == batch) {
                last.count += count;
            } else if (count > 0) {
                sent.add(new Batch.Run(batch, count));
            }
            if (!batch.allSent() && batch.next - batch.received < batchWindow) {
                toSend.add(batch); // at the back: other callers' requests go out between its chunks
                batch.queued = true;
            }
        }
        unsentHint = !toSend.isEmpty();
    }

    /**
     * Matches each whole answer in {@code in} (read mode) to the head of {@code sent}, hands each waiter
     * complete to {@code done}; returns how many it matched, or throws {@link Violation}.
     */
    int deliver(ByteBuffer in, Consumer<Waiter> done) {
        int matched = 0;
        try {
            Object head;
            while (in.remaining() >= Protocol.RESPONSE_BYTES && (head = sent.peek()) != null) {
                if (head instanceof Call call) {
                    long value = Protocol.decodeResponse(in);
                    matched++;
                    sent.poll();
                    inFlight--;
                    if (call.isPending()) {
                        call.value = value;
                        done.accept(call);
                    }
                    continue;
                }
                Batch.Run run = (Batch.Run) head; // as many of a batch's answers as are here, in one go
                Batch batch = run.batch;
                int count = batch.decode(in, run.count, callTimeoutNanos);
                matched += count;
                if ((run.count -= count) == 0) {
                    sent.poll();
                }
                if (batch.isPending() && batch.received == batch.xs.length) {
                    done.accept(batch);
                } else if (batch.isPending() && !batch.queued && !batch.allSent()) {
                    toSend.add(batch); // its window has room again
                    batch.queued = true;
                    unsentHint = true;
                }
            }
            if (sent.isEmpty() && in.hasRemaining()) {
                throw new Violation("sent " + in.remaining() + " bytes that answer no request");
            }
            return matched;
        } finally {
            due -= matched; // volatile: written once
        }
    }

    /**
     * A call given up before it was sent gives back its room at once and is
     * skipped when its turn comes. So that such entries cannot pile up while
     * nothing is written, {@link #add} takes them out in one pass once they
     * are half the line or the line is full (not here: the line may be being
     * walked).
     */
    void abandon() {
        inFlight--;
        abandoned++;
    }

    /** Entries in line, calls given up and not yet taken out included: for tests. */
    int entries() {
        return toSend.size() + sent.size();
    }

    /** The server broke the protocol; the message follows "the server at ADDRESS". */
    static final class Violation extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Violation(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * The connection was lost under what is in {@code sent}. With replay, it
     * goes back to the front of the line, in its order, to be sent on the
     * next connection (a batch from its first unanswered pair, once); without,
     * each waiter there goes to {@code failed}. Returns how many were put back.
     */
    long lost(boolean replay, Consumer<Waiter> failed) {
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
                    inFlight--;
                    failed.accept(call);
                }
                continue;
            }
            Batch batch = ((Batch.Run) entry).batch;
            if (!replay) {
                failed.accept(batch);
            } else if (batch.isPending() && batch.generation != generation) {
                batch.generation = generation;
                batch.next = batch.received;
                batch.queued = true;
                again.add(batch);
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
        return count;
    }

    /** Hands every waiter in line to {@code each}, a batch as often as it has entries. */
    void forEach(Consumer<Waiter> each) {
        sent.forEach(entry -> each.accept(waiter(entry)));
        toSend.forEach(entry -> each.accept((Waiter) entry));
    }

    /** Hands every waiter not yet sent to {@code each}, and takes them out of line. */
    void removeUnsent(Consumer<Waiter> each) {
        toSend.forEach(entry -> each.accept((Waiter) entry));
        toSend.clear();
        abandoned = 0;
        unsentHint = false;
    }

    /** The oldest pending waiter in line whose caller may drive, or null. */
    Waiter oldestThatMayDrive() {
        for (ArrayDeque<Object> part : List.of(sent, toSend)) {
            for (Object entry : part) {
                Waiter waiter = waiter(entry);
                if (waiter.mayDrive && waiter.isPending()) {
                    return waiter;
                }
            }
        }
        return null;
    }

    /** Whether a waiter is queued to be sent: nothing to connect for otherwise. */
    boolean anyUnsentPending() {
        for (Object entry : toSend) {
            if (((Waiter) entry).isPending()) {
                return true;
            }
        }
        return false;
    }

    private static Waiter waiter(Object entry) {
        return entry instanceof Batch.Run run ? run.batch : (Waiter) entry;
    }
}
