package dev.adder.client;

import dev.adder.core.AdderAddress;
import dev.adder.core.HumanDuration;
import dev.adder.core.Protocol;
import java.io.EOFException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

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
 * <p>Concurrent calls are pipelined: their requests are written together and
 * the answers, which the server sends in order, are matched to calls first
 * in, first out. No thread of the client's own sits between a caller and the
 * socket: a blocking caller writes its request (and those queued beside it)
 * and, if no one is reading, reads for everyone until its own answer is in;
 * otherwise it parks. So a waiting caller costs a parked thread, nothing
 * more, and a virtual thread unmounts. Asynchronous calls are read by one
 * platform thread the client starts at its first asynchronous call
 * ({@code adder-client-reader}), and their futures are completed on the
 * completion executor, never on the caller's thread nor inside the reading
 * loop.
 *
 * <p>Every call has a deadline, the call timeout, counted from the moment it
 * is made; every wait (for room in flight, for the answer) ends there, or on
 * interrupt. A call that times out fails alone, with
 * {@link AdderTimeoutException}; its slot stays in line, so its late answer
 * is dropped, never handed to the call behind it. A connection that fails
 * (reset, end of stream, a malformed answer) fails every call in flight on
 * it with an {@link AdderException} naming the address and the cause, and
 * the next call connects again. Nothing is retried behind the caller's back;
 * a caller may retry, since addition has no side effects.
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

    private static final int BATCH_BUFFER_BYTES = 64 * 1024;

    private final AdderAddress address;
    private final SocketAddress socketAddress;
    private final long connectTimeoutNanos;
    private final long callTimeoutNanos;
    private final int maxInFlight;
    private final Executor completions;
    /** Held while connecting; callers wait for it within their deadlines. */
    private final ReentrantLock connecting = new ReentrantLock();
    private final Reader reader = new Reader();
    private volatile Pipeline pipeline;
    private volatile boolean closed;

    private AdderClient(Builder builder) {
        this.address = builder.address;
        this.socketAddress = builder.socketAddress;
        this.connectTimeoutNanos = builder.connectTimeout.toNanos();
        this.callTimeoutNanos = builder.callTimeout.toNanos();
        this.maxInFlight = builder.maxInFlight;
        this.completions = builder.completions;
    }

    /**
     * Connects to {@code unix:PATH}, {@code tcp:HOST:PORT} or {@code HOST:PORT} with default settings.
     *
     * @param address the server, as written
     * @return a connected client
     */
    public static AdderClient connect(String address) {
        return builder(address).connect();
    }

    /**
     * A builder for a client of the server at {@code unix:PATH}, {@code tcp:HOST:PORT} or {@code HOST:PORT}.
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

    /**
     * The server's address.
     *
     * @return the address
     */
    public AdderAddress address() {
        return address;
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
        long deadline = System.nanoTime() + callTimeoutNanos;
        checkOpen();
        Call call = new Call(x, y, deadline, Thread.currentThread(), null);
        Pipeline current = pipeline(deadline);
        current.submit(call);
        return current.await(call);
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
     * timeout, if {@code maxInFlight} calls are in flight); the future is
     * completed on the completion executor with the sum, or exceptionally
     * with an {@link AdderException} (an {@link AdderTimeoutException} past
     * the call timeout). It is completed exactly once, also when the client
     * is closed or the connection fails.
     *
     * @param x the first operand
     * @param y the second operand
     * @return the future sum
     */
    public CompletableFuture<Long> addAsync(long x, long y) {
        long deadline = System.nanoTime() + callTimeoutNanos;
        CompletableFuture<Long> future = new CompletableFuture<>();
        try {
            checkOpen();
            Pipeline current = pipeline(deadline);
            current.submit(new Call(x, y, deadline, null, future));
        } catch (AdderException | IllegalStateException e) {
            completions.execute(() -> future.completeExceptionally(e));
        }
        return future;
    }

    /**
     * Adds {@code xs[i] + ys[i]} for every {@code i}, pipelining the requests
     * over the one connection: any number of pairs, without deadlock, since
     * answers are read while requests are still being written. The batch has
     * the connection to itself: it starts once the calls in flight are
     * answered, and calls made meanwhile wait for it. The call timeout bounds
     * each wait for progress, not the whole batch.
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
        if (xs.length == 0) {
            return new long[0];
        }
        long deadline = System.nanoTime() + callTimeoutNanos;
        checkOpen();
        return pipeline(deadline).exclusively(deadline, (channel, selector) -> batch(channel, selector, xs, ys));
    }

    private long[] batch(SocketChannel connection, Selector selector, long[] xs, long[] ys) throws IOException {
        long[] sums = new long[xs.length];
        ByteBuffer out = ByteBuffer.allocate(BATCH_BUFFER_BYTES).order(Protocol.BYTE_ORDER).flip();
        ByteBuffer in = ByteBuffer.allocate(BATCH_BUFFER_BYTES).order(Protocol.BYTE_ORDER);
        SelectionKey key = connection.keyFor(selector);
        int sent = 0;
        int received = 0;
        long deadline = System.nanoTime() + callTimeoutNanos;
        while (received < sums.length) {
            if (!out.hasRemaining() && sent < xs.length) {
                out.clear();
                while (sent < xs.length && out.remaining() >= Protocol.REQUEST_BYTES) {
                    Protocol.encodeRequest(out, xs[sent], ys[sent]);
                    sent++;
                }
                out.flip();
            }
            boolean progress = out.hasRemaining() && connection.write(out) > 0;
            int n = connection.read(in);
            if (n < 0) {
                throw new EOFException("server closed the connection after " + received + " of "
                        + sums.length + " answers");
            }
            if (n > 0) {
                progress = true;
                in.flip();
                while (in.remaining() >= Protocol.RESPONSE_BYTES && received < sums.length) {
                    sums[received++] = Protocol.decodeResponse(in);
                }
                in.compact();
            }
            if (progress) {
                deadline = System.nanoTime() + callTimeoutNanos;
            } else {
                long remaining = deadline - System.nanoTime();
                if (remaining <= 0) {
                    throw new AdderTimeoutException("timed out waiting for answers from " + address + " ("
                            + received + " of " + sums.length + " received)");
                }
                key.interestOps(out.hasRemaining() ? SelectionKey.OP_READ | SelectionKey.OP_WRITE : SelectionKey.OP_READ);
                selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining + 999_999)));
                selector.selectedKeys().clear();
                if (closed || Thread.currentThread().isInterrupted()) {
                    throw new IOException(closed ? "the client was closed during the call" : "interrupted");
                }
            }
        }
        if (in.position() > 0) {
            throw new IOException("server sent " + in.position() + " bytes more than the answers asked for");
        }
        return sums;
    }

    /**
     * Closes the connection and fails every call in flight at once, with an
     * {@link AdderException}; stops the reader thread if it was started.
     * Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        Pipeline current = pipeline;
        if (current != null) {
            current.fail(new AdderException("the client of " + address + " was closed", null));
        }
        reader.stop();
    }

    @Override
    public String toString() {
        return "AdderClient[" + address + "]";
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the client of " + address + " is closed");
        }
    }

    /** The connection to use, connecting (again) if there is none, it failed, or the server closed it while idle. */
    private Pipeline pipeline(long deadline) {
        Pipeline current = pipeline;
        if (current != null && current.isUsable()) {
            return current;
        }
        try {
            if (!connecting.tryLock(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                throw new AdderTimeoutException("timed out waiting for the connection to " + address);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AdderException("interrupted while waiting for the connection to " + address, e);
        }
        try {
            current = pipeline;
            if (current != null && current.isUsable()) {
                return current;
            }
            checkOpen();
            Pipeline fresh = connectNow();
            pipeline = fresh;
            if (closed) { // closed while connecting: close() may have seen the old pipeline
                fresh.fail(new AdderException("the client of " + address + " was closed", null));
            }
            return fresh;
        } catch (IOException e) {
            throw connectFailure(e);
        } finally {
            connecting.unlock();
        }
    }

    /**
     * Connects within the connect timeout. A Unix-domain connect to a server
     * whose accept queue is full fails at once with {@code EAGAIN} (TCP waits
     * instead), so it is tried again, a little later each time, until the
     * deadline: a busy server gets the same patience over either socket kind.
     */
    private Pipeline connectNow() throws IOException {
        if (socketAddress instanceof InetSocketAddress inet && inet.isUnresolved()) {
            throw new AdderException("cannot connect to " + address + ": unknown host '" + inet.getHostString() + "'", null);
        }
        long deadline = System.nanoTime() + connectTimeoutNanos;
        long pauseNanos = TimeUnit.MICROSECONDS.toNanos(100);
        while (true) {
            try {
                return connectOnce(deadline);
            } catch (SocketException e) {
                if (!acceptQueueFull(e)) {
                    throw connectFailure(e);
                }
                long remaining = deadline - System.nanoTime();
                if (remaining <= 0) {
                    throw new AdderTimeoutException("timed out connecting to " + address
                            + ": the server's queue of connections to accept stayed full for "
                            + TimeUnit.NANOSECONDS.toMillis(connectTimeoutNanos) + " ms");
                }
                LockSupport.parkNanos(Math.min(pauseNanos, remaining));
                pauseNanos = Math.min(pauseNanos * 2, TimeUnit.MILLISECONDS.toNanos(50));
                if (closed || Thread.currentThread().isInterrupted()) {
                    throw new AdderException("cannot connect to " + address + ": "
                            + (closed ? "the client was closed" : "interrupted"), e);
                }
            }
        }
    }

    /**
     * A Unix-domain connect that failed with neither a refusal nor a missing
     * or forbidden file: a live server whose accept queue is full.
     */
    private boolean acceptQueueFull(SocketException e) {
        return address.isUnix() && !(e instanceof ConnectException)
                && Files.exists(address.unixPath(), LinkOption.NOFOLLOW_LINKS) && Files.isWritable(address.unixPath());
    }

    /** One attempt; a {@link SocketException} is left to the caller, any other failure is final. */
    private Pipeline connectOnce(long deadline) throws IOException {
        SocketChannel opened = socketAddress instanceof UnixDomainSocketAddress
                ? SocketChannel.open(StandardProtocolFamily.UNIX)
                : SocketChannel.open();
        Selector selector = null;
        try {
            opened.configureBlocking(false);
            selector = Selector.open();
            SelectionKey key = opened.register(selector, SelectionKey.OP_CONNECT);
            boolean connected = opened.connect(socketAddress);
            while (!connected) {
                long remaining = deadline - System.nanoTime();
                if (remaining <= 0) {
                    throw new AdderTimeoutException("timed out connecting to " + address);
                }
                selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining + 999_999)));
                selector.selectedKeys().clear();
                if (closed || Thread.currentThread().isInterrupted()) {
                    throw new AdderException("cannot connect to " + address + ": "
                            + (closed ? "the client was closed" : "interrupted"), null);
                }
                connected = opened.finishConnect();
            }
            if (!address.isUnix()) {
                opened.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
            key.interestOps(SelectionKey.OP_READ);
            return new Pipeline(address, opened, selector, maxInFlight, completions, reader::wake);
        } catch (IOException | RuntimeException e) {
            opened.close();
            if (selector != null) {
                selector.close();
            }
            if (e instanceof SocketException socket) {
                throw socket;
            }
            throw e instanceof AdderException adder ? adder : connectFailure(e);
        }
    }

    private AdderException connectFailure(Exception e) {
        String reason;
        if (address.isUnix() && !Files.exists(address.unixPath(), LinkOption.NOFOLLOW_LINKS)) {
            reason = "no socket file at " + address.unixPath() + " (is the server running?)";
        } else if (e instanceof ConnectException) {
            reason = "connection refused (is the server running?)";
        } else {
            reason = e.getMessage() == null ? e.toString() : e.getMessage();
        }
        return new AdderException("cannot connect to " + address + ": " + reason, e);
    }

    /**
     * The one platform thread of the client, started at its first asynchronous
     * call: it reads answers when asynchronous calls are in flight and no
     * caller is waiting to read; otherwise it is parked. It ends at close().
     */
    private final class Reader implements Runnable {
        private final ConcurrentLinkedQueue<Pipeline> assigned = new ConcurrentLinkedQueue<>();
        private final ReentrantLock startLock = new ReentrantLock();
        private Thread thread;
        private volatile boolean stopped;

        /** The reading role of {@code pipeline} is handed to this thread. */
        void wake(Pipeline pipeline) {
            assigned.add(pipeline);
            Thread current = thread;
            if (current == null) {
                startLock.lock();
                try {
                    if (thread == null && !stopped) {
                        Thread started = new Thread(this, "adder-client-reader " + address);
                        started.setDaemon(true);
                        thread = started;
                        started.start();
                    }
                    current = thread;
                } finally {
                    startLock.unlock();
                }
            }
            if (current != null) {
                LockSupport.unpark(current);
            }
        }

        @Override
        public void run() {
            while (!stopped) {
                Pipeline next = assigned.poll();
                if (next == null) {
                    LockSupport.park(this);
                } else {
                    next.read(null, 0);
                }
            }
        }

        void stop() {
            stopped = true;
            Thread current;
            startLock.lock();
            try {
                current = thread;
            } finally {
                startLock.unlock();
            }
            if (current != null && current != Thread.currentThread()) {
                LockSupport.unpark(current);
                try {
                    current.join(TimeUnit.SECONDS.toMillis(10));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /** Settings of a client; each has a default. */
    public static final class Builder {
        private final AdderAddress address;
        private final SocketAddress socketAddress;
        private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
        private Duration callTimeout = DEFAULT_CALL_TIMEOUT;
        private int maxInFlight = DEFAULT_MAX_IN_FLIGHT;
        private Executor completions = ForkJoinPool.commonPool();

        private Builder(AdderAddress address) {
            this.address = address;
            this.socketAddress = address.toSocketAddress();
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
         * own (default {@link ForkJoinPool#commonPool()}).
         *
         * @param executor the executor
         * @return this builder
         */
        public Builder completionExecutor(Executor executor) {
            this.completions = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /**
         * Connects now, so that a wrong address fails here rather than at the first call.
         *
         * @throws AdderException if the server cannot be reached
         * @return a client, connected
         */
        public AdderClient connect() {
            AdderClient client = new AdderClient(this);
            try {
                client.pipeline(System.nanoTime() + client.connectTimeoutNanos);
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
