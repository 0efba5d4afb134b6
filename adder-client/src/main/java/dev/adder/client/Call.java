package dev.adder.client;

import dev.adder.core.AdderAddress;
import java.util.concurrent.CompletableFuture;

/**
 * One request and its slot in the line: first in {@code toSend}, then, once
 * its request is in the write buffer, in {@code sent} until its answer
 * comes. A call given up (timed out, interrupted) stays in {@code sent}, so
 * its late answer is dropped there, never handed to the call behind it;
 * given up before it was sent, it is skipped.
 */
final class Call extends Waiter {

    final long x;
    final long y;
    /** The future of an asynchronous call; null for a blocking one. */
    final CompletableFuture<Long> future;
    /** Written before {@link #state}, read after it. */
    long value;
    /** The request is in a write buffer or on the wire. Guarded by the line's lock. */
    boolean sent;

    Call(long x, long y, long deadline, Thread thread, CompletableFuture<Long> future) {
        super(thread, deadline);
        this.x = x;
        this.y = y;
        this.future = future;
    }

    @Override
    AdderTimeoutException timedOut(AdderAddress address, String why) {
        return new AdderTimeoutException("timed out waiting for an answer from " + address + why);
    }
}
