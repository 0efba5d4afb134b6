package dev.adder.client;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * What a caller waits on: one call or one batch, in the line of
 * {@link Calls}. Its state goes once from {@code PENDING} to {@code DONE}
 * or {@code FAILED}, under the line's lock, and never back; whoever makes
 * that move wakes the caller.
 */
abstract class Waiter {

    static final int PENDING = 0;
    static final int DONE = 1;
    static final int FAILED = 2;

    /** The caller's thread, parked while it waits; null for an asynchronous call. */
    final Thread thread;
    /**
     * Whether the caller may take the driver's role: a platform thread. A
     * virtual thread would block its carrier in the selector, so it only
     * parks, and the background driver works for it.
     */
    final boolean mayDrive;
    /** Written before {@link #state} under the lock; read after it. */
    AdderException error;
    volatile int state = PENDING;
    /** The role was handed to this caller while it was parked. Guarded by the line's lock. */
    boolean promoted;

    Waiter(Thread thread) {
        this.thread = thread;
        this.mayDrive = thread != null && !isVirtual(thread);
    }

    final boolean isPending() {
        return state == PENDING;
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
}
