package dev.adder.client;

import dev.adder.core.AdderAddress;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * What a caller waits on: one call or one batch, in the line of
 * {@link Calls}. Its state moves once, under the line's lock, from
 * {@code PENDING} to {@code DONE} or {@code FAILED}; whoever moves it wakes
 * the caller.
 */
abstract class Waiter {

    static final int PENDING = 0;
    static final int DONE = 1;
    static final int FAILED = 2;
    /** {@code Thread.isVirtual()}, from Java 21; the library is built for Java 17. */
    private static final MethodHandle IS_VIRTUAL = isVirtualHandle();

    /** The caller's thread, parked while it waits; null for an asynchronous call. */
    final Thread thread;
    /**
     * Whether the caller may take the driver's role: a platform thread. A
     * virtual thread would hold its carrier in the selector, so it parks
     * untimed, and the background driver works for it and keeps its deadline.
     */
    final boolean mayDrive;
    /** nanoTime by which the caller wants its answer (a batch: its next one); kept across replays. */
    volatile long deadline;
    /** Written before {@link #state}, read after it. */
    AdderException error;
    volatile int state = PENDING;
    /** The role was handed to this caller while it was parked. Guarded by the line's lock. */
    boolean promoted;

    Waiter(Thread thread, long deadline) {
        this.thread = thread;
        this.deadline = deadline;
        this.mayDrive = thread != null && !isVirtual(thread);
    }

    final boolean isPending() {
        return state == PENDING;
    }

    /** What this waiter fails with at its deadline; {@code why} names the trouble meanwhile, or is "". */
    abstract AdderTimeoutException timedOut(AdderAddress address, String why);

    private static MethodHandle isVirtualHandle() {
        try {
            return MethodHandles.publicLookup().findVirtual(Thread.class, "isVirtual", MethodType.methodType(boolean.class));
        } catch (NoSuchMethodException | IllegalAccessException e) {
            return null;
        }
    }

    private static boolean isVirtual(Thread thread) {
        try {
            return IS_VIRTUAL != null && (boolean) IS_VIRTUAL.invokeExact(thread);
        } catch (Throwable e) {
            return false;
        }
    }
}
