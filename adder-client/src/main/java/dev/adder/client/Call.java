package dev.adder.client;

import java.util.concurrent.CompletableFuture;

/**
 * One request and its slot in the line: first in {@code toSend}, then, once
 * its request is in the write buffer, in {@code sent} until its answer
 * comes. A call whose caller gave up (timed out, interrupted) stays in
 * {@code sent}, so its late answer is dropped there, never handed to the
 * call behind it; given up before it was sent, it is skipped.
 */
final class Call extends Waiter {

    final long x;
    final long y;
    /** nanoTime by which the caller wants its answer, from the moment it called; kept across replays. */
    final long deadline;
    /** The future of an asynchronous call; null for a blocking one. */
    final CompletableFuture<Long> future;
    /** Whether a driver enforces the deadline: asynchronous calls, and those of virtual threads, which park untimed. */
    final boolean timedByDriver;
    /** Written before {@link #state}; read after it. */
    long value;
    /** The request is in a write buffer or on the wire. Guarded by the line's lock. */
    boolean sent;

    Call(long x, long y, long deadline, Thread thread, CompletableFuture<Long> future) {
        super(thread);
        this.x = x;
        this.y = y;
        this.deadline = deadline;
        this.future = future;
        this.timedByDriver = !mayDrive;
    }

    boolean isAsync() {
        return future != null;
    }
}
