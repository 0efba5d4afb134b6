package dev.adder.client;

/**
 * The pairs of one {@code addAll}: a run of slots in the same line as every
 * other call, not a mode of the connection. The driver takes its requests a
 * chunk at a time, and puts it back at the end of {@code toSend} after each,
 * so other callers' requests go out between its chunks; each chunk's answers
 * are a {@link Run} in {@code sent}. Answers come in the order the requests
 * went out, so the next answer of the batch is always for pair
 * {@link #received}. All fields are guarded by the line's lock.
 */
final class Batch extends Waiter {

    final long[] xs;
    final long[] ys;
    final long[] sums;
    /** The next pair to send: after a lost connection, back to {@link #received}. */
    int next;
    int received;
    /** Pairs sent and not answered: at most the batch's window. */
    int inFlight;
    /** Whether it is in {@code toSend} now (not when all is sent, or its window is full). */
    boolean queued;
    /** nanoTime by which the next answer must come: the call timeout after the last progress. Read without the lock. */
    volatile long deadline;
    /** The loss at which it was last put back in line, so that it is put back once per loss. */
    int generation;

    Batch(long[] xs, long[] ys, long deadline, Thread thread) {
        super(thread);
        this.xs = xs;
        this.ys = ys;
        this.sums = new long[xs.length];
        this.deadline = deadline;
    }

    boolean allSent() {
        return next == xs.length;
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
