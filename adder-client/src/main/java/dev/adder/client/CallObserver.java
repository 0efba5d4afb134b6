package dev.adder.client;

/**
 * Told of the end of every call of a client that has one
 * ({@link AdderClient.Builder#callObserver}): {@link AdderClient#add},
 * {@link AdderClient#addExact} and {@link AdderClient#addAsync} each count as
 * one call, and so does a whole batch of {@link AdderClient#addAll}. A client
 * without an observer spends nothing on it: no clock read, no allocation.
 *
 * <p>It is called on the caller's thread once a blocking call returns or
 * throws, and where an asynchronous call's future completes (the completion
 * executor), never under the client's lock: it must be quick and thread-safe,
 * and an exception it throws is ignored. A call refused at once because the
 * client is closed ({@link IllegalStateException}) is not a call that ended.
 */
@FunctionalInterface
public interface CallObserver {

    /**
     * A call ended.
     *
     * @param nanos   how long it took, from the moment it was made to its answer or its failure, in nanoseconds
     * @param failure null if it succeeded; else what it failed with (see {@link AdderException#kind()})
     */
    void callEnded(long nanos, AdderException failure);
}
