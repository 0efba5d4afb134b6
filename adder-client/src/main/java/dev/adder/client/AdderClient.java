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
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
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
 * (reset, end of stream, a failed write) is replaced by a new one and the
 * calls that were on it are sent again ({@linkplain Builder#replay replay},
 * on by default: addition has no side effects, so this is always safe, and
 * no call ever gets an answer but its own); with replay off they fail with
 * an {@link AdderException} naming the address and the cause, and the next
 * call connects again. A server that breaks the protocol (a malformed or
 * unasked-for answer) fails every call in flight on its connection either way.
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
    private final boolean replay;
    /** Calls sent again after their connection was lost. */
    private final AtomicLong replayed = new AtomicLong();
    /** Selectors of connects under way, woken by close() so that none waits out its connect timeout. */
    private final Set<Selector> connectSelectors = ConcurrentHashMap.newKeySet();
    /** Threads sending asynchronous calls again, each for the calls of one lost connection. */
    private final Set<Thread> replayers = ConcurrentHashMap.newKeySet();
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
        this.replay = builder.replay;
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
     * How many calls were sent again on a new connection because the one
     * they were on was lost (always 0 with replay off). A call sent three
     * times counts twice.
     *
     * @return the count since the client was made
     */
    public long replayedCalls() {
        return replayed.get();
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
        Attempts attempts = null;
        while (true) {
            try {
                Call call = new Call(x, y, deadline, Thread.currentThread(), null);
                Pipeline current = pipeline(deadline);
                current.submit(call);
                return current.await(call);
            } catch (AdderException e) {
                attempts = again(e, deadline, attempts);
            }
        }
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
        Call call = new Call(x, y, deadline, null, future);
        try {
            checkOpen();
            Pipeline current = pipeline(deadline);
            current.submit(call);
        } catch (AdderException e) {
            if (replay && ConnectionLostException.of(e) != null && !closed) {
                call.error = e;
                replayLater(List.of(call));
            } else {
                completions.execute(() -> future.completeExceptionally(e));
            }
        } catch (IllegalStateException e) {
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
        checkOpen();
        long[] sums = new long[xs.length];
        int[] received = {0};
        Attempts attempts = null;
        // replays end a call timeout after the batch last made progress, as every wait of a batch does
        long lastProgress = System.nanoTime();
        while (true) {
            int before = received[0];
            long deadline = System.nanoTime() + callTimeoutNanos;
            try {
                pipeline(deadline).exclusively(deadline, (channel, selector) -> batch(channel, selector, xs, ys, sums, received));
                return sums;
            } catch (AdderException e) {
                if (received[0] > before) {
                    attempts = null; // progress since the last loss: a fresh start
                    lastProgress = System.nanoTime();
                }
                attempts = again(e, lastProgress + callTimeoutNanos, attempts);
            }
        }
    }

    /**
     * Sends the pairs from {@code received[0]} on and reads their answers
     * into {@code sums}, counting them in {@code received[0]}: after a lost
     * connection the batch goes on from the first pair not yet answered.
     */
    private long[] batch(SocketChannel connection, Selector selector, long[] xs, long[] ys, long[] sums, int[] done)
            throws IOException {
        ByteBuffer out = ByteBuffer.allocate(BATCH_BUFFER_BYTES).order(Protocol.BYTE_ORDER).flip();
        ByteBuffer in = ByteBuffer.allocate(BATCH_BUFFER_BYTES).order(Protocol.BYTE_ORDER);
        SelectionKey key = connection.keyFor(selector);
        int sent = done[0];
        int received = done[0];
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
                done[0] = received;
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
                    // not a lost connection: the batch ends here, sent again by no one
                    throw new AdderException("call to " + address + " failed: " + (closed
                            ? "the client was closed during the call" : "interrupted"), null);
                }
            }
        }
        if (in.position() > 0) {
            throw new AdderException("call to " + address + " failed: the server sent " + in.position()
                    + " bytes more than the answers asked for", null);
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
            current.fail(closedError(null));
        }
        reader.stop();
        connectSelectors.forEach(Selector::wakeup);
        for (Thread replayer : replayers) {
            LockSupport.unpark(replayer);
            try {
                replayer.join(TimeUnit.SECONDS.toMillis(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
    }

    @Override
    public String toString() {
        return "AdderClient[" + address + "]";
    }

    /** What a call still under way when the client is closed fails with. */
    private AdderException closedError(Throwable cause) {
        return new AdderException("the client of " + address + " was closed", cause);
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
                fresh.fail(closedError(null));
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
                // looked at once: a server starting may create the file between two looks
                boolean present = !address.isUnix() || Files.exists(address.unixPath(), LinkOption.NOFOLLOW_LINKS);
                if (!acceptQueueFull(e, present)) {
                    throw connectFailure(e, present);
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
    private boolean acceptQueueFull(SocketException e, boolean present) {
        return address.isUnix() && !(e instanceof ConnectException) && present && Files.isWritable(address.unixPath());
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
            connectSelectors.add(selector); // before closed is looked at: close() either is seen or wakes it
            SelectionKey key = opened.register(selector, SelectionKey.OP_CONNECT);
            boolean connected = opened.connect(socketAddress);
            while (!connected) {
                if (closed || Thread.currentThread().isInterrupted()) {
                    throw new AdderException("cannot connect to " + address + ": "
                            + (closed ? "the client was closed" : "interrupted"), null);
                }
                long remaining = deadline - System.nanoTime();
                if (remaining <= 0) {
                    throw new AdderTimeoutException("timed out connecting to " + address);
                }
                selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining + 999_999)));
                selector.selectedKeys().clear();
                connected = opened.finishConnect();
            }
            connectSelectors.remove(selector);
            if (!address.isUnix()) {
                opened.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
            key.interestOps(SelectionKey.OP_READ);
            return new Pipeline(address, opened, selector, maxInFlight, completions, reader::wake,
                    replay ? this::replayLater : null);
        } catch (IOException | RuntimeException e) {
            opened.close();
            if (selector != null) {
                connectSelectors.remove(selector);
                selector.close();
            }
            if (e instanceof SocketException socket) {
                throw socket;
            }
            throw e instanceof AdderException adder ? adder : connectFailure(e);
        }
    }

    /**
     * A refusal, a reset, a missing socket file may end when a server
     * (re)starts: with replay on, they are tried again. An unknown host, a
     * socket file this user may not write, a timeout are not.
     */
    private AdderException connectFailure(Exception e) {
        return connectFailure(e, !address.isUnix() || Files.exists(address.unixPath(), LinkOption.NOFOLLOW_LINKS));
    }

    private AdderException connectFailure(Exception e, boolean present) {
        String prefix = "cannot connect to " + address + ": ";
        if (!present) {
            return new ConnectionLostException(prefix + "no socket file at " + address.unixPath()
                    + " (is the server running?)", e, true);
        }
        if (e instanceof ConnectException) {
            return new ConnectionLostException(prefix + "connection refused (is the server running?)", e, true);
        }
        String reason = prefix + (e.getMessage() == null ? e.toString() : e.getMessage());
        if (e instanceof SocketException && !(address.isUnix() && !Files.isWritable(address.unixPath()))) {
            return new ConnectionLostException(reason, e, true);
        }
        return new AdderException(reason, e);
    }

    // ---------------------------------------------------------------- replay

    /** The tries of one call to get through after its connection was lost or could not be made. */
    private static final class Attempts {
        int losses;
        /** nanoTime of the first of the connect failures in a row; valid while {@link #connectFailing}. */
        long connectFailingSince;
        boolean connectFailing;
        int tries;
        AdderException last;
    }

    private static final long FIRST_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final long LONGEST_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    /**
     * After a failed try of a call: returns when the call should be tried
     * again (having paused as long as it should), or throws what its caller
     * is to see. Tried again only with replay on, for a lost connection or
     * one that could not be made: at once after a loss, then after pauses
     * from 1 ms doubling to 100 ms; never past the call's deadline, and
     * connecting for no longer than the connect timeout in a row.
     */
    private Attempts again(AdderException failure, long deadline, Attempts attempts) {
        ConnectionLostException lost = ConnectionLostException.of(failure);
        if (lost == null && attempts != null && failure instanceof AdderTimeoutException) {
            throw new AdderTimeoutException(failure.getMessage() + " (sent again after: " + attempts.last.getMessage()
                    + ")", failure); // what came before the timeout is what an operator needs to know
        }
        if (!replay || lost == null) {
            throw failure;
        }
        if (closed) {
            throw closedError(failure);
        }
        Attempts next = attempts == null ? new Attempts() : attempts;
        long now = System.nanoTime();
        next.last = failure;
        if (lost.connecting) {
            if (!next.connectFailing) {
                next.connectFailing = true;
                next.connectFailingSince = now;
            } else if (now - next.connectFailingSince >= connectTimeoutNanos) {
                throw failure; // the server stayed unreachable for as long as a connect may take
            }
        } else {
            next.connectFailing = false;
            next.losses++;
        }
        long pause = next.tries == 0 ? 0 : Math.min(LONGEST_PAUSE_NANOS, FIRST_PAUSE_NANOS << Math.min(20, next.tries - 1));
        next.tries++;
        if (deadline - (now + pause) <= 0) {
            throw new AdderTimeoutException("timed out waiting for an answer from " + address + ": "
                    + (next.losses > 0 ? "its connection was lost " + times(next.losses) + "; " : "")
                    + "last failure: " + failure.getMessage(), failure);
        }
        if (pause > 0) {
            LockSupport.parkNanos(this, pause);
            if (Thread.currentThread().isInterrupted()) {
                throw new AdderException("interrupted while waiting to call " + address + " again", failure);
            }
            if (closed) {
                throw closedError(failure);
            }
        }
        if (!lost.connecting) {
            replayed.incrementAndGet();
        }
        return next;
    }

    private static String times(int n) {
        return n == 1 ? "once" : n + " times";
    }

    /**
     * Sends asynchronous calls again, in their order, from a thread of their
     * own: waiting for a connection or for room in flight must not hold up
     * the reader thread, which reads the answers. The thread ends when the
     * calls are sent or failed.
     */
    private void replayLater(List<Call> calls) {
        Thread thread = new Thread(() -> {
            try {
                for (Call call : calls) {
                    replayNow(call);
                }
            } finally {
                replayers.remove(Thread.currentThread());
            }
        }, "adder-client-replay " + address);
        thread.setDaemon(true);
        replayers.add(thread);
        thread.start();
    }

    private void replayNow(Call lost) {
        Attempts attempts = null;
        AdderException failure = lost.error;
        while (true) {
            try {
                attempts = again(failure, lost.deadline, attempts);
            } catch (AdderException e) {
                completions.execute(() -> lost.future.completeExceptionally(e));
                return;
            }
            try {
                Pipeline current = pipeline(lost.deadline);
                current.submit(new Call(lost.x, lost.y, lost.deadline, null, lost.future));
                return;
            } catch (AdderException e) {
                failure = e;
            } catch (IllegalStateException e) { // closed meanwhile
                failure = closedError(null);
            }
        }
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
        private boolean replay = true;

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
         * Whether a call whose connection is lost is sent again on a new one
         * (default on). Addition has no side effects, so sending a call twice
         * is always safe; and since the server answers in order, a call's
         * answer comes on the connection its request went out on, so a call
         * gets exactly one answer, the right one, whichever connection
         * delivers it. With replay on:
         * <ul>
         * <li>calls in flight on a connection that is reset, ends, or fails
         * to write are sent again on a new connection: at once, then after
         * pauses from 1 ms doubling to 100 ms if that one is lost too;</li>
         * <li>a connect that is refused, or finds no socket file, is tried
         * again the same way for up to the connect timeout in a row (a
         * server restarting at the same address);</li>
         * <li>nothing goes past the call's deadline: a call that runs out of
         * time fails with {@link AdderTimeoutException}, naming the last
         * failure.</li>
         * </ul>
         * A timeout, an interrupt, {@link AdderClient#close()}, or a server
         * that breaks the protocol is never replayed; nor is the connect of
         * {@link #connect()}, so a wrong address still fails at once. With
         * replay off, every call on a lost connection fails with an
         * {@link AdderException}, as does a call that cannot connect.
         *
         * <p>On by default because a client behind a load balancer, or of a
         * server restarted in place, then rides through a backend dying or
         * being restarted without the application seeing an error; the cost
         * is that a server gone for good is reported after the connect
         * timeout (default 5 s) rather than at once. Turn it off to report
         * every lost connection to the caller.
         *
         * @param on whether to replay
         * @return this builder
         */
        public Builder replay(boolean on) {
            this.replay = on;
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
