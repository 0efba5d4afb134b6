package dev.adder.client;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * A client of an adder server, over a Unix-domain socket or TCP, for
 * concurrent code: any number of threads (platform or virtual) share one
 * client and its one connection.
 *
 * <pre>{@code
 * try (AdderClient client = AdderClient.connect("unix:adder.sock")) {
 *     long sum = client.add(7, 10);                           // 17
 *     CompletableFuture<Long> later = client.addAsync(1, 2);  // 3, when it comes
 * }
 * }</pre>
 *
 * <p>Concurrent calls are pipelined: every call, and every pair of a batch,
 * takes a slot in one first-in, first-out line, and the answers, which the
 * server sends in order, land in their slots. One role, the driver, does all
 * the connection's work, always waiting for readable and writable together.
 * A blocking caller on a platform thread drives if no one does, until its
 * own answer is in, then hands the role on; the others park. Asynchronous
 * calls and callers on virtual threads only park: one platform thread the
 * client starts when first needed ({@code adder-client-reader}) drives for
 * them.
 *
 * <p>Every call has a deadline, the call timeout, from the moment it is
 * made; every wait (for room, a connection, the answer) ends there, or on
 * interrupt. A call that times out fails alone, with {@link
 * AdderTimeoutException}; its late answer is dropped in its slot. A lost
 * connection is replaced, and its calls are sent again ({@linkplain
 * Builder#replay replay}) or fail. Every failure is an {@link AdderException}
 * naming the address and the cause.
 */
public final class AdderClient implements AutoCloseable {

    /** Default longest wait to connect. */
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);
    /** Default longest wait for an answer (for a batch: for any progress). */
    public static final Duration DEFAULT_CALL_TIMEOUT = Duration.ofSeconds(30);
    /** Shortest timeout the builder accepts. */
    public static final Duration MIN_TIMEOUT = Duration.ofMillis(1);
    /** Longest timeout the builder accepts: a day. */
    public static final Duration MAX_TIMEOUT = Duration.ofDays(1);
    /** Default most calls in flight on the connection at once. */
    public static final int DEFAULT_MAX_IN_FLIGHT = 4096;
    /** Default longest a caller waiting for its answer polls before it sleeps. */
    public static final Duration DEFAULT_BUSY_POLL = Duration.ofNanos(25_000);

    private final AdderAddress address;
    private final long callTimeoutNanos;
    private final Executor completions;
    private final Background background;
    private final Calls calls;
    private final Driver driver;
    private final CallObserver observer;

    private AdderClient(ClientBuilder builder) {
        this.address = builder.address;
        this.callTimeoutNanos = builder.callTimeout.toNanos();
        this.completions = builder.completions;
        this.background = new Background("adder-client-reader " + address);
        this.calls = new Calls(address, builder.maxInFlight, callTimeoutNanos, completions, background::hand);
        this.driver = new Driver(address, calls, builder.replay, builder.connectTimeout.toNanos(), builder.busyPoll.toNanos(),
                !address.isTls() ? null : builder.tls != null ? builder.tls : ClientTls.defaults());
        background.driveWith(driver);
        this.observer = builder.observer;
    }

    /**
     * Connects to {@code unix:PATH}, {@code tcp:HOST:PORT}, {@code HOST:PORT} or {@code tls:HOST:PORT}
     * with default settings: under TLS, the server's certificate must chain to a CA the JDK trusts and
     * name HOST.
     *
     * @param address the server, as written
     * @return a connected client
     */
    public static AdderClient connect(String address) {
        return builder(address).connect();
    }

    /**
     * A builder for a client of the server at {@code unix:PATH}, {@code tcp:HOST:PORT}, {@code HOST:PORT}
     * or {@code tls:HOST:PORT}.
     *
     * @param address the server, as written
     * @return a builder with every default
     */
    public static Builder builder(String address) {
        return new Builder(AdderAddress.parse(address));
    }

    /**
     * A builder for a client of the server at this address.
     *
     * @param address the server
     * @return a builder with every default
     */
    public static Builder builder(AdderAddress address) {
        return new Builder(Objects.requireNonNull(address, "address"));
    }

    /**
     * A builder for a client of the server at a Unix-domain or TCP socket address.
     *
     * @param address a {@code UnixDomainSocketAddress} or an {@code InetSocketAddress}
     * @return a builder with every default
     */
    public static Builder builder(SocketAddress address) {
        return new Builder(AdderAddress.of(address));
    }

    /** {@return the server's address} */
    public AdderAddress address() {
        return address;
    }

    /**
     * How many calls were sent again on a new connection because the one
     * they were on was lost (always 0 with replay off). A call sent three
     * times counts twice; a batch counts once per loss.
     *
     * @return the count since the client was made
     */
    public long replayedCalls() {
        return calls.replayed();
    }

    /** {@return the client's figures now: calls in flight, calls replayed} */
    public ClientStats stats() {
        return calls.stats();
    }

    /**
     * Asks the server for {@code x + y}, which wraps around on overflow like
     * Java's {@code long} addition. Safe to call from any number of threads
     * at once; concurrent calls share the connection.
     *
     * @throws AdderException if the call could not be completed, or
     *         {@link AdderTimeoutException} if its answer did not come within the call timeout
     *
     * @param x the first operand
     * @param y the second operand
     * @return the sum
     */
    public long add(long x, long y) {
        checkOpen();
        long start = System.nanoTime();
        Call call = new Call(x, y, start + callTimeoutNanos, Thread.currentThread(), null);
        Observed.await(observer, start, calls, driver, call);
        return call.value;
    }

    /**
     * Like {@link #add}, but throws {@link ArithmeticException} if the true
     * sum does not fit in a {@code long}, as {@link Math#addExact(long, long)} does.
     *
     * @param x the first operand
     * @param y the second operand
     * @return the sum
     */
    public long addExact(long x, long y) {
        long sum = add(x, y);
        if (Protocol.overflowed(x, y, sum)) {
            throw new ArithmeticException("long overflow: " + x + " + " + y);
        }
        return sum;
    }

    /**
     * Asks the server for {@code x + y} without waiting for the answer. The
     * request is queued before this returns (waiting, within the call
     * timeout, if {@code maxInFlight} calls are in flight), never waiting
     * for a connection: the client's thread connects if need be. The future
     * is completed on the completion executor with the sum, or exceptionally
     * with an {@link AdderException} (an {@link AdderTimeoutException} past
     * the call timeout). It is completed exactly once, also when the client
     * is closed or the connection fails.
     *
     * @param x the first operand
     * @param y the second operand
     * @return the future sum
     */
    public CompletableFuture<Long> addAsync(long x, long y) {
        CompletableFuture<Long> future = new CompletableFuture<>();
        long start = System.nanoTime();
        Observed.watch(observer, start, future);
        try {
            checkOpen();
            calls.enqueue(new Call(x, y, start + callTimeoutNanos, null, future));
            driver.nudge();
        } catch (AdderException | IllegalStateException e) {
            completions.execute(() -> future.completeExceptionally(e));
        }
        return future;
    }

    /**
     * Adds {@code xs[i] + ys[i]} for every {@code i}, pipelining the requests
     * over the one connection: any number of pairs, without deadlock, since
     * the driver reads answers while it writes requests. The pairs take
     * slots in the same line as every other call, a chunk at a time, so
     * other callers' requests go out between the batch's chunks and nobody
     * waits for the whole batch. The call timeout bounds each wait for
     * progress, not the whole batch.
     *
     * @return the sums, in order
     * @throws IllegalArgumentException if the arrays differ in length
     * @throws AdderException if the batch could not be completed
     * @param xs the first operands
     * @param ys the second operands, as many
     */
    public long[] addAll(long[] xs, long[] ys) {
        if (xs.length != ys.length) {
            throw new IllegalArgumentException("xs has " + xs.length + " values but ys has " + ys.length);
        }
        checkOpen();
        if (xs.length == 0) {
            return new long[0];
        }
        long start = System.nanoTime();
        Batch batch = new Batch(xs, ys, start + callTimeoutNanos, Thread.currentThread());
        Observed.await(observer, start, calls, driver, batch);
        return batch.sums;
    }

    /**
     * Closes the connection and fails every call under way at once, with an
     * {@link AdderException}; stops the client's thread if it was started.
     * Idempotent.
     */
    @Override
    public void close() {
        if (calls.close(new AdderException("the client of " + address + " was closed", null).as(FailureKind.CLOSED))) {
            driver.closeAll(); // the role was free: this thread closes what it held
        } else {
            driver.wakeup(); // its holder sees the client closed, and closes the connection
        }
        background.stop();
    }

    @Override
    public String toString() {
        return "AdderClient[" + address + "]";
    }

    private void checkOpen() {
        if (calls.isClosed()) {
            throw new IllegalStateException("the client of " + address + " is closed");
        }
    }

    /** Makes the client and connects it: {@link Builder#connect()}. */
    static AdderClient open(ClientBuilder settings) {
        AdderClient client = new AdderClient(settings);
        try {
            client.driver.connectFirst();
            client.calls.publish(); // what the connect set up is seen by whoever drives next
            return client;
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
    }

    /** Settings of a client; each has a default. */
    public static final class Builder extends ClientBuilder {
        // the settings are ClientBuilder's, in a file of their own; javac and javadoc present its
        // public methods as this class's own, so this class is the whole of the public API
        private Builder(AdderAddress address) {
            super(address);
        }

        @Override
        Builder self() {
            return this;
        }
    }
}
