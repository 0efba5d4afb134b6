package dev.adder.client;

import dev.adder.core.AdderAddress;
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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A blocking client of an adder server, over a Unix-domain socket or TCP.
 *
 * <pre>{@code
 * try (AdderClient client = AdderClient.connect("unix:adder.sock")) {
 *     long sum = client.add(7, 10); // 17
 * }
 * }</pre>
 *
 * <p>Safe to share between threads: calls take turns on one connection. Every
 * failure is an {@link AdderException} naming the address and what went
 * wrong; the connection is then closed, never reused mid-frame, and the next
 * call connects again. A call is never retried behind the caller's back, but
 * a caller may retry one: addition has no side effects.
 *
 * <p>Timeouts work on both kinds of socket: the channel is non-blocking and
 * every wait goes through a {@link Selector} with a deadline.
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

    private static final int BATCH_BUFFER_BYTES = 64 * 1024;

    private final AdderAddress address;
    private final SocketAddress socketAddress;
    private final long connectTimeoutNanos;
    private final long callTimeoutNanos;
    private final ReentrantLock lock = new ReentrantLock();
    private final Selector selector;
    private final ByteBuffer request = ByteBuffer.allocate(Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
    private final ByteBuffer response = ByteBuffer.allocate(Protocol.RESPONSE_BYTES).order(Protocol.BYTE_ORDER);
    private final ByteBuffer probe = ByteBuffer.allocate(1);
    private SocketChannel channel;
    private SelectionKey key;
    private volatile boolean closed;

    private AdderClient(Builder builder) throws IOException {
        this.address = builder.address;
        this.socketAddress = builder.socketAddress;
        this.connectTimeoutNanos = builder.connectTimeout.toNanos();
        this.callTimeoutNanos = builder.callTimeout.toNanos();
        this.selector = Selector.open();
    }

    /** Connects to {@code unix:PATH}, {@code tcp:HOST:PORT} or {@code HOST:PORT} with default timeouts. */
    public static AdderClient connect(String address) {
        return builder(address).connect();
    }

    /** A builder for a client of the server at {@code unix:PATH}, {@code tcp:HOST:PORT} or {@code HOST:PORT}. */
    public static Builder builder(String address) {
        return new Builder(AdderAddress.parse(address));
    }

    /** A builder for a client of the server at this address. */
    public static Builder builder(AdderAddress address) {
        return new Builder(Objects.requireNonNull(address, "address"));
    }

    /** A builder for a client of the server at a Unix-domain or TCP socket address. */
    public static Builder builder(SocketAddress address) {
        return new Builder(AdderAddress.of(address));
    }

    /** The server's address. */
    public AdderAddress address() {
        return address;
    }

    /**
     * Asks the server for {@code x + y}, which wraps around on overflow like
     * Java's {@code long} addition.
     *
     * @throws AdderException if the call could not be completed
     */
    public long add(long x, long y) {
        lock.lock();
        try {
            checkOpen();
            long deadline = System.nanoTime() + callTimeoutNanos;
            SocketChannel connection = connection();
            request.clear();
            Protocol.encodeRequest(request, x, y);
            request.flip();
            response.clear();
            while (response.hasRemaining()) {
                if (request.hasRemaining()) {
                    connection.write(request);
                }
                if (read(connection, response) == 0 && response.hasRemaining()) {
                    await(request.hasRemaining() ? SelectionKey.OP_READ | SelectionKey.OP_WRITE : SelectionKey.OP_READ,
                            deadline, "an answer");
                }
            }
            response.flip();
            return Protocol.decodeResponse(response);
        } catch (IOException | RuntimeException e) {
            throw failed(e);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Like {@link #add}, but throws {@link ArithmeticException} if the true
     * sum does not fit in a {@code long}, as {@link Math#addExact(long, long)} does.
     */
    public long addExact(long x, long y) {
        long sum = add(x, y);
        if (Protocol.overflowed(x, y, sum)) {
            throw new ArithmeticException("long overflow: " + x + " + " + y);
        }
        return sum;
    }

    /**
     * Adds {@code xs[i] + ys[i]} for every {@code i}, pipelining the requests
     * over the one connection: any number of pairs, without deadlock, since
     * answers are read while requests are still being written. The call
     * timeout bounds each wait for progress, not the whole batch.
     *
     * @return the sums, in order
     * @throws IllegalArgumentException if the arrays differ in length
     * @throws AdderException if the batch could not be completed
     */
    public long[] addAll(long[] xs, long[] ys) {
        if (xs.length != ys.length) {
            throw new IllegalArgumentException("xs has " + xs.length + " values but ys has " + ys.length);
        }
        long[] sums = new long[xs.length];
        if (xs.length == 0) {
            return sums;
        }
        lock.lock();
        try {
            checkOpen();
            SocketChannel connection = connection();
            ByteBuffer out = ByteBuffer.allocate(BATCH_BUFFER_BYTES).order(Protocol.BYTE_ORDER).flip();
            ByteBuffer in = ByteBuffer.allocate(BATCH_BUFFER_BYTES).order(Protocol.BYTE_ORDER);
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
                if (read(connection, in) > 0) {
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
                    await(out.hasRemaining() ? SelectionKey.OP_READ | SelectionKey.OP_WRITE : SelectionKey.OP_READ,
                            deadline, "answers (" + received + " of " + sums.length + " received)");
                }
            }
            if (in.position() > 0) {
                throw new IOException("server sent " + in.position() + " bytes more than the answers asked for");
            }
            return sums;
        } catch (IOException | RuntimeException e) {
            throw failed(e);
        } finally {
            lock.unlock();
        }
    }

    /** Closes the connection; a call blocked in another thread fails at once. Idempotent. */
    @Override
    public void close() {
        closed = true;
        selector.wakeup();
        lock.lock();
        try {
            disconnect();
            selector.close();
        } catch (IOException e) {
            // nothing is left to release
        } finally {
            lock.unlock();
        }
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

    /** The open connection, or a new one if there is none or the server closed it while it was idle. */
    private SocketChannel connection() throws IOException {
        if (channel != null && !idleConnectionIsUsable()) {
            disconnect();
        }
        if (channel == null) {
            connectNow();
        }
        return channel;
    }

    /**
     * Between calls the server owes nothing, so a read must find nothing. End
     * of stream or an error means the server closed it (restarted, or timed
     * it out as idle): reconnecting is not a retry, nothing was sent.
     */
    private boolean idleConnectionIsUsable() {
        probe.clear();
        try {
            return channel.read(probe) == 0;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Connects within the connect timeout. A Unix-domain connect to a server
     * whose accept queue is full fails at once with {@code EAGAIN} (TCP waits
     * instead), so it is tried again, a little later each time, until the
     * deadline: a busy server gets the same patience over either socket kind.
     */
    private void connectNow() throws IOException {
        if (socketAddress instanceof InetSocketAddress inet && inet.isUnresolved()) {
            throw new AdderException("cannot connect to " + address + ": unknown host '" + inet.getHostString() + "'", null);
        }
        long deadline = System.nanoTime() + connectTimeoutNanos;
        long pauseNanos = TimeUnit.MICROSECONDS.toNanos(100);
        while (true) {
            try {
                connectOnce(deadline);
                return;
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
    private void connectOnce(long deadline) throws IOException {
        SocketChannel opened = socketAddress instanceof UnixDomainSocketAddress
                ? SocketChannel.open(StandardProtocolFamily.UNIX)
                : SocketChannel.open();
        try {
            opened.configureBlocking(false);
            SelectionKey registered = opened.register(selector, 0);
            channel = opened;
            key = registered;
            boolean connected = opened.connect(socketAddress);
            while (!connected) {
                await(SelectionKey.OP_CONNECT, deadline, "the connection");
                connected = opened.finishConnect();
            }
            if (!address.isUnix()) {
                opened.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
        } catch (SocketException e) {
            disconnect();
            throw e;
        } catch (IOException | RuntimeException e) {
            disconnect();
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

    private static int read(SocketChannel connection, ByteBuffer into) throws IOException {
        int n = connection.read(into);
        if (n < 0) {
            throw new EOFException("server closed the connection");
        }
        return n;
    }

    /** Waits until the channel is ready for {@code ops}, or fails at the deadline. */
    private void await(int ops, long deadline, String what) throws IOException {
        long remaining = deadline - System.nanoTime();
        if (remaining <= 0) {
            throw new AdderTimeoutException("timed out waiting for " + what + " from " + address);
        }
        key.interestOps(ops);
        selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining + 999_999)));
        selector.selectedKeys().clear();
        if (closed) {
            throw new IOException("the client was closed during the call");
        }
        if (Thread.currentThread().isInterrupted()) {
            throw new IOException("interrupted while waiting for " + what);
        }
    }

    private AdderException failed(Exception e) {
        disconnect();
        if (e instanceof AdderException adder) {
            return adder;
        }
        if (e instanceof IllegalStateException || e instanceof IllegalArgumentException) {
            throw (RuntimeException) e;
        }
        String reason = e.getMessage() == null ? e.toString() : e.getMessage();
        return new AdderException("call to " + address + " failed: " + reason, e);
    }

    private void disconnect() {
        if (channel == null) {
            return;
        }
        key.cancel();
        try {
            channel.close();
        } catch (IOException ignored) {
            // the connection is being dropped anyway
        }
        channel = null;
        key = null;
    }

    /** Settings of a client; each has a default. */
    public static final class Builder {
        private final AdderAddress address;
        private final SocketAddress socketAddress;
        private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
        private Duration callTimeout = DEFAULT_CALL_TIMEOUT;

        private Builder(AdderAddress address) {
            this.address = address;
            this.socketAddress = address.toSocketAddress();
        }

        /** Longest wait to connect (default 5 s; from 1 ms to 24 h). */
        public Builder connectTimeout(Duration timeout) {
            this.connectTimeout = timeout("connectTimeout", timeout);
            return this;
        }

        /** Longest wait for an answer; for a batch, for any progress (default 30 s; from 1 ms to 24 h). */
        public Builder callTimeout(Duration timeout) {
            this.callTimeout = timeout("callTimeout", timeout);
            return this;
        }

        /**
         * Connects now, so that a wrong address fails here rather than at the first call.
         *
         * @throws AdderException if the server cannot be reached
         */
        public AdderClient connect() {
            AdderClient client;
            try {
                client = new AdderClient(this);
            } catch (IOException e) {
                throw new AdderException("cannot open a selector for a client of " + address + ": " + e.getMessage(), e);
            }
            client.lock.lock();
            try {
                client.connectNow();
                return client;
            } catch (IOException | RuntimeException e) {
                client.close();
                throw client.failed(e);
            } finally {
                client.lock.unlock();
            }
        }

        private static Duration timeout(String name, Duration duration) {
            Objects.requireNonNull(duration, name);
            if (duration.compareTo(MIN_TIMEOUT) < 0 || duration.compareTo(MAX_TIMEOUT) > 0) {
                throw new IllegalArgumentException(name + " must be from 1ms to 24h, not " + duration);
            }
            return duration;
        }
    }
}
