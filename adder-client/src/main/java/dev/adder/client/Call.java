package dev.adder.client;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.concurrent.CompletableFuture;

/**
 * One request in flight: its slot in the connection's first-in, first-out
 * order of answers. A call whose caller gave up (timed out, interrupted)
 * keeps its slot, so its late answer is absorbed here and never handed to
 * the call behind it.
 */
final class Call {

    static final int PENDING = 0;
    static final int DONE = 1;
    static final int FAILED = 2;

    final long x;
    final long y;
    /** nanoTime by which the caller wants its answer; set when the caller called. */
    final long deadline;
    /** The thread parked for the answer; null for an asynchronous call. */
    final Thread waiter;
    /**
     * Whether the waiter may take the reading role: a platform thread. A
     * virtual thread would block its carrier in the selector, so it only
     * parks, and the client's reader thread reads for it.
     */
    final boolean mayRead;
    /** The future of an asynchronous call; null for a blocking one. */
    final CompletableFuture<Long> future;

    /**
     * Written before {@link #state}, read after it. A call still in line whose
     * state is {@code FAILED} was given up by its caller (timed out,
     * interrupted): its answer, when it comes, is dropped.
     */
    long value;
    AdderException error;
    volatile int state = PENDING;
    /** Handed the reading role by the previous reader. Guarded by the pipeline's lock. */
    volatile boolean promoted;

    Call(long x, long y, long deadline, Thread waiter, CompletableFuture<Long> future) {
        this.x = x;
        this.y = y;
        this.deadline = deadline;
        this.waiter = waiter;
        this.future = future;
        this.mayRead = waiter != null && !isVirtual(waiter);
    }

    /** {@code Thread.isVirtual()}, on Java 21 and later; the library is built for Java 17. */
    private static final MethodHandle IS_VIRTUAL = isVirtualHandle();

    private static MethodHandle isVirtualHandle() {
        try {
            return MethodHandles.publicLookup().findVirtual(Thread.class, "isVirtual", MethodType.methodType(boolean.class));
        } catch (NoSuchMethodException | IllegalAccessException e) {
            return null;
        }
    }

    static boolean isVirtual(Thread thread) {
        if (IS_VIRTUAL == null) {
            return false;
        }
        try {
            return (boolean) IS_VIRTUAL.invokeExact(thread);
        } catch (Throwable e) {
            return false;
        }
    }

    boolean isAsync() {
        return future != null;
    }
}
