package dev.adder.client;

import dev.adder.core.AdderAddress;
import dev.adder.core.HumanDuration;
import dev.adder.core.Protocol;
import java.io.IOException;
import java.net.SocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import javax.net.ssl.SSLContext;

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

    private AdderClient(Builder builder) {
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

    /** Settings of a client; each has a default. */
    public static final class Builder {
        private final AdderAddress address;
        private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
        private Duration callTimeout = DEFAULT_CALL_TIMEOUT;
        private int maxInFlight = DEFAULT_MAX_IN_FLIGHT;
        private Executor completions = ForkJoinPool.commonPool();
        private boolean replay = true;
        private Duration busyPoll = DEFAULT_BUSY_POLL;
        private ClientTls tls;
        private CallObserver observer;

        private Builder(AdderAddress address) {
            this.address = address;
            address.toSocketAddress(); // fails here, not at the first call, for an address no socket can have
        }

        /**
         * Longest wait to connect (default 5 s; from 1 ms to 24 h).
         *
         * @param timeout from 1 ms to 24 h
         * @return this builder
         */
        public Builder connectTimeout(Duration timeout) {
            this.connectTimeout = timeout("connectTimeout", timeout);
            return this;
        }

        /**
         * Longest wait for an answer; for a batch, for any progress (default 30 s; from 1 ms to 24 h).
         *
         * @param timeout from 1 ms to 24 h
         * @return this builder
         */
        public Builder callTimeout(Duration timeout) {
            this.callTimeout = timeout("callTimeout", timeout);
            return this;
        }

        /**
         * Most calls in flight on the connection at once (default 4,096; from 1
         * to 1,048,576). A call beyond it waits, within its deadline, for an
         * answer to free a slot, so a server that stops reading cannot make the
         * client hold more than this many calls.
         *
         * @param calls from 1 to 1,048,576
         * @return this builder
         */
        public Builder maxInFlight(int calls) {
            if (calls < 1 || calls > 1 << 20) {
                throw new IllegalArgumentException("maxInFlight must be from 1 to 1048576, not " + calls);
            }
            this.maxInFlight = calls;
            return this;
        }

        /**
         * Where the futures of {@link AdderClient#addAsync} are completed, and
         * so where their dependent stages run unless given an executor of their
         * own (default {@link ForkJoinPool#commonPool()}). A direct executor
         * ({@code Runnable::run}) runs them on the client's driving thread:
         * they must then be quick and never wait for this client.
         *
         * @param executor the executor
         * @return this builder
         */
        public Builder completionExecutor(Executor executor) {
            this.completions = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /**
         * Whether a call whose connection is lost is sent again on a new one
         * (default on). Addition has no side effects, and a call's answer comes
         * on the connection its request went out on, so a replayed call still
         * gets exactly one answer, its own. With replay on, calls in flight on a
         * connection that is reset, ends or fails to write are sent again (at
         * once, then after pauses from 1 ms doubling to 100 ms if that one is
         * lost too), and a connect that is refused or finds no socket file is
         * tried again, after pauses from 0.1 ms doubling to 100 ms, for up to the
         * connect timeout (a server restarting in place); nothing goes past a
         * call's deadline. A timeout, an interrupt, {@link AdderClient#close()}
         * or a server that breaks the protocol is never replayed, nor is the
         * connect of {@link #connect()}: a server not running fails there at
         * once. The cost: a server gone for good is reported after the connect
         * timeout. With replay off, every call on a lost connection fails.
         *
         * @param on whether to replay
         * @return this builder
         */
        public Builder replay(boolean on) {
            this.replay = on;
            return this;
        }

        /**
         * How long a caller on a platform thread that waits for its answer
         * polls the socket without sleeping (default 25 µs; from zero to 1 ms).
         * An answer that comes within it saves the thread's sleep and wake-up,
         * which on a server nearby cost as much as the round trip itself. The
         * client learns from its recent waits whether polling pays, as the
         * server's loop does ({@code busyPoll} there): it stops after three
         * polls in a row that find nothing (a server further away) and tries
         * again at most once in 1,024 waits, so it then costs almost nothing.
         * {@code Duration.ZERO} never polls.
         *
         * @param window from zero to 1 ms
         * @return this builder
         */
        public Builder busyPoll(Duration window) {
            Objects.requireNonNull(window, "busyPoll");
            if (window.isNegative() || window.compareTo(Duration.ofMillis(1)) > 0) {
                throw new IllegalArgumentException("busyPoll must be from 0 to 1ms, not " + HumanDuration.describe(window));
            }
            this.busyPoll = window;
            return this;
        }

        /**
         * For a {@code tls:} address: trusts the CAs of this PEM file rather than the JDK's. The
         * server's certificate must still name the address's host. Read now.
         *
         * @param caCertificates one or more PEM CA certificates
         * @return this builder
         * @throws IOException naming the file and what is wrong with it, in one line
         */
        public Builder tlsCa(Path caCertificates) throws IOException {
            Objects.requireNonNull(caCertificates, "caCertificates");
            this.tls = ClientTls.fromFiles(caCertificates, tls == null ? null : tls.chain, tls == null ? null : tls.key);
            return this;
        }

        /**
         * For a {@code tls:} address: presents this PEM certificate chain with this PEM PKCS#8 key,
         * for a server that admits only clients with certificates (mutual TLS). Read now.
         *
         * @param chain the client's certificate, then its intermediates
         * @param key its private key, unencrypted PKCS#8
         * @return this builder
         * @throws IOException naming the file and what is wrong with it, in one line
         */
        public Builder tlsCertificate(Path chain, Path key) throws IOException {
            Objects.requireNonNull(chain, "chain");
            Objects.requireNonNull(key, "key");
            this.tls = ClientTls.fromFiles(tls == null ? null : tls.ca, chain, key);
            return this;
        }

        /**
         * For a {@code tls:} address: uses this context (its trust, its keys) rather than files or
         * the JDK's default. The server's certificate must still name the address's host.
         *
         * @param context an initialized context
         * @return this builder
         */
        public Builder tls(SSLContext context) {
            this.tls = ClientTls.of(Objects.requireNonNull(context, "context"));
            return this;
        }

        /**
         * Tells {@code observer} of the end of every call, with its latency and its failure if it
         * failed (default none: then calls read no clock and allocate nothing for it).
         *
         * @param observer quick and thread-safe; see {@link CallObserver}
         * @return this builder
         */
        public Builder callObserver(CallObserver observer) {
            this.observer = Objects.requireNonNull(observer, "observer");
            return this;
        }

        /**
         * Connects now, so that a wrong address fails here rather than at the first call.
         *
         * @throws AdderException if the server cannot be reached
         * @return a client, connected
         */
        public AdderClient connect() {
            if (tls != null && !address.isTls()) {
                throw new IllegalStateException("TLS settings are for a tls: address, not " + address);
            }
            AdderClient client = new AdderClient(this);
            try {
                client.driver.connectFirst();
                client.calls.publish(); // what the connect set up is seen by whoever drives next
                return client;
            } catch (RuntimeException e) {
                client.close();
                throw e;
            }
        }

        private static Duration timeout(String name, Duration duration) {
            Objects.requireNonNull(duration, name);
            if (duration.compareTo(MIN_TIMEOUT) < 0 || duration.compareTo(MAX_TIMEOUT) > 0) {
                throw new IllegalArgumentException(name + " must be from 1ms to 24h, not " + HumanDuration.describe(duration));
            }
            return duration;
        }
    }
}
