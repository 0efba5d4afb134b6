package dev.adder.client;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.nio.ByteBuffer;

/**
 * The pairs of one {@code addAll}: a run of slots in the same line as every
 * other call, not a mode of the connection. The driver takes its requests a
 * chunk at a time and puts it back at the end of {@code toSend} after each,
 * so other callers' requests go out between its chunks; each chunk's answers
 * are a {@link Run} in {@code sent}. Answers come in the order the requests
 * went out, so the batch's next answer is always for pair {@link #received}.
 * Its deadline is the call timeout after its last progress. All fields are
 * guarded by the line's lock.
 */
final class Batch extends Waiter {

    final long[] xs;
    final long[] ys;
    final long[] sums;
    /** The next pair to send: after a lost connection, back to {@link #received}; the pairs between are in flight. */
    int next;
    int received;
    /** Whether it is in {@code toSend} now (not when all is sent, or its window is full). */
    boolean queued;
    /** The loss at which it was last put back in line, so that it is put back once per loss. */
    int generation;

    Batch(long[] xs, long[] ys, long deadline, Thread thread) {
        super(thread, deadline);
        this.xs = xs;
        this.ys = ys;
        this.sums = new long[xs.length];
    }

    boolean allSent() {
        return next == xs.length;
    }

    /** Puts its next requests into {@code out}, as many as fit and its window allows; returns how many. */
    int encode(ByteBuffer out, int window) {
        int count = Math.min(out.remaining() / Protocol.REQUEST_BYTES, Math.min(xs.length - next, window - (next - received)));
        for (int i = next, end = next + count; i < end; i++) {
            Protocol.encodeRequest(out, xs[i], ys[i]);
        }
        next += count;
        return count;
    }

    /**
     * Takes up to {@code most} of its answers from {@code in}, as many as are
     * there; returns how many. Given up, its caller has the array back: the
     * answers are skipped.
     */
    int decode(ByteBuffer in, int most, long timeoutNanos) {
        int count = Math.min(most, in.remaining() / Protocol.RESPONSE_BYTES);
        if (isPending()) {
            for (int i = received, end = received + count; i < end; i++) {
                sums[i] = Protocol.decodeResponse(in);
            }
            received += count;
            deadline = System.nanoTime() + timeoutNanos;
        } else {
            in.position(in.position() + count * Protocol.RESPONSE_BYTES);
        }
        return count;
    }

    @Override
    AdderTimeoutException timedOut(AdderAddress address, String why) {
        return new AdderTimeoutException("timed out waiting for answers from " + address + " (" + received + " of "
                + xs.length + " received)" + why);
    }

    /** Answers due to one batch, for pairs sent one after another. */
    static final class Run {
        final Batch batch;
        int count;

        Run(Batch batch, int count) {
            this.batch = batch;
            this.count = count;
        }
    }
}
