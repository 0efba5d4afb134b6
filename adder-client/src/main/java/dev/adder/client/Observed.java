package dev.adder.client;

import java.util.concurrent.CompletableFuture;

/** Tells a {@link CallObserver}, when a client has one, of the end of its calls. */
final class Observed {

    private Observed() {
    }

    /** The call made at {@code start} (nanoTime) ended now, with {@code failure} or none; nothing without an observer. */
    static void ended(CallObserver observer, long start, AdderException failure) {
        if (observer == null) {
            return;
        }
        try {
            observer.callEnded(System.nanoTime() - start, failure);
        } catch (RuntimeException ignored) {
            // the observer's fault must not become the call's
        }
    }

    /** Waits for the call (or batch) made at {@code start} as {@link Calls#await} does, then tells the observer. */
    static void await(CallObserver observer, long start, Calls calls, Driver driver, Waiter waiter) {
        try {
            calls.await(waiter, driver);
        } catch (AdderException e) {
            ended(observer, start, e);
            throw e;
        }
        ended(observer, start, null);
    }

    /** Tells the observer when the asynchronous call made at {@code start} completes; nothing without one. */
    static void watch(CallObserver observer, long start, CompletableFuture<Long> future) {
        if (observer != null) {
            future.whenComplete((sum, failure) -> {
                if (failure == null || failure instanceof AdderException) {
                    ended(observer, start, (AdderException) failure);
                }
            });
        }
    }
}
