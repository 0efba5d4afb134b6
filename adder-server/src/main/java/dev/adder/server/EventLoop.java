package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.core.RequestDecoder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import jdk.net.ExtendedSocketOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's one thread: a {@link Selector} over every listener and
 * connection. Read it top to bottom: binding, the loop, accepting, serving a
 * connection, stopping.
 *
 * <p>Every request is answered from two loop-owned direct buffers: a read
 * fills {@code in}, the decoder answers each complete request into
 * {@code out}, and {@code out} goes to the socket in one write. Only the rest
 * of a partial write is kept by the connection, which then waits for
 * {@code OP_WRITE}. Nothing is allocated per request.
 *
 * <p>Other threads only enqueue tasks and wake the selector up; counters are
 * written by the loop alone and read by anyone.
 */
final class EventLoop implements Runnable {

    private static final Logger log = LoggerFactory.getLogger(EventLoop.class);

    /**
     * One read per connection per turn takes up to this much: a Unix socket's
     * default send buffer fits in it, and one turn's answers fit in {@code out}.
     */
    private static final int READ_BUFFER_BYTES = 256 * 1024;
    private static final int ACCEPTS_PER_TURN = 256;
    private static final int BACKLOG = 4096;
    /** After accept() fails (out of file descriptors, say), listeners rest this long. */
    private static final long ACCEPT_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** While stopping, a connection quiet this long after its answers are flushed is closed. */
    private static final long DRAIN_QUIET_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    private static final long WARNING_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** Consecutive selects that return early with nothing ready before the selector is rebuilt. */
    private static final int EARLY_WAKEUPS_BEFORE_REBUILD = 512;
    /**
     * While the answers held for slow readers are over the server's budget,
     * a connection holding none is still read, but this little at a time: it
     * can add at most 128 bytes of answers before it holds some and is paused.
     */
    private static final int OVER_BUDGET_READ_BYTES = 16 * Protocol.REQUEST_BYTES;
    /** At stop, the most read from one connection's kernel receive buffer. */
    private static final long STOP_READ_LIMIT_BYTES = 8L * 1024 * 1024;

    private final ServerConfig config;
    /** An array, not a list: iterating it every turn allocates no iterator. */
    private final Listener[] listeners;
    private final List<AdderAddress> addresses;
    private final Thread thread;
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    /** Volatile: other threads wake it up, and a rebuild replaces it. */
    private volatile Selector selector;

    private final ByteBuffer in = ByteBuffer.allocateDirect(READ_BUFFER_BYTES).order(Protocol.BYTE_ORDER);
    private final ByteBuffer out = ByteBuffer.allocateDirect(
            (READ_BUFFER_BYTES / Protocol.REQUEST_BYTES + 1) * Protocol.RESPONSE_BYTES).order(Protocol.BYTE_ORDER);
    private final RequestDecoder.Sink answer = (x, y) -> out.putLong(Protocol.answer(x, y));
    /** Scratch for gathering writes of pending output. */
    private final ByteBuffer[] gather = new ByteBuffer[OutputBuffer.CHUNKS_PER_WRITE];
    /** Made once: a method reference evaluated at each select would allocate each turn. */
    private final Consumer<SelectionKey> onReady = this::onReady;

    private final AtomicLong openConnections = new AtomicLong();
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong refused = new AtomicLong();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong bytesRead = new AtomicLong();
    private final AtomicLong bytesWritten = new AtomicLong();
    private final AtomicLong pendingOutput = new AtomicLong();

    private volatile boolean running;
    private volatile Throwable failure;

    private long now = System.nanoTime();
    private long nextConnectionId;
    private boolean stopping;
    private long drainDeadline;
    private long nextIdleScan;
    private long lastRefusalWarning = now - WARNING_INTERVAL_NANOS;
    private long lastAcceptFailureWarning = now - WARNING_INTERVAL_NANOS;
    private int earlyWakeups;
    /** Written by the loop alone. */
    private volatile int selectorRebuilds;
    /** Written by the loop alone. */
    private volatile long peakPendingOutput;
    /**
     * The answers held for all slow readers together passed the budget and
     * have not yet drained to half of it: connections holding answers are
     * not read meanwhile.
     */
    private boolean overBudget;
    private long lastBudgetWarning = now - WARNING_INTERVAL_NANOS;
    /**
     * After a turn that found work, the loop polls without sleeping until
     * this time: a blocked thread's wake-up costs more, in latency and in
     * CPU, than a few non-blocking polls when requests keep coming.
     */
    private long pollUntil = now;
    private final long busyPollNanos;
    /** Cleared where the platform has no TCP_QUICKACK (it is Linux-only). */
    private boolean quickAckSupported = true;

    /** A listening channel; {@code file} is set for Unix-domain listeners. */
    private static final class Listener {
        final ServerSocketChannel channel;
        final AdderAddress address;
        final UnixSocketFile file;
        SelectionKey key;
        long pausedUntil;
        boolean paused;

        Listener(ServerSocketChannel channel, AdderAddress address, UnixSocketFile file) {
            this.channel = channel;
            this.address = address;
            this.file = file;
        }
    }

    private EventLoop(ServerConfig config, Selector selector, List<Listener> listeners) {
        this.config = config;
        this.selector = selector;
        this.listeners = listeners.toArray(Listener[]::new);
        this.addresses = listeners.stream().map(l -> l.address).toList();
        this.thread = new Thread(this, config.threadName());
        this.busyPollNanos = config.busyPoll().toNanos();
    }

    // ---------------------------------------------------------------- binding

    /** Binds every listener of the configuration, or none: a failure closes what was bound. */
    static EventLoop bind(ServerConfig config) throws IOException {
        Selector selector = Selector.open();
        List<Listener> bound = new ArrayList<>();
        try {
            for (AdderAddress address : config.listen()) {
                Listener listener = bindOne(address, config);
                bound.add(listener);
                listener.key = listener.channel.register(selector, SelectionKey.OP_ACCEPT, listener);
            }
        } catch (IOException | RuntimeException e) {
            for (Listener listener : bound) {
                closeListener(listener);
            }
            selector.close();
            throw e;
        }
        return new EventLoop(config, selector, List.copyOf(bound));
    }

    private static Listener bindOne(AdderAddress address, ServerConfig config) throws IOException {
        if (address.isUnix()) {
            UnixSocketFile.Bound bound = UnixSocketFile.bind(address, config.unixSocketPermissions(), BACKLOG);
            bound.channel().configureBlocking(false);
            return new Listener(bound.channel(), address, bound.file());
        }
        InetSocketAddress socketAddress = (InetSocketAddress) address.toSocketAddress();
        if (socketAddress.isUnresolved()) {
            throw new IOException("cannot listen on " + address + ": unknown host '" + address.host() + "'");
        }
        ServerSocketChannel channel = ServerSocketChannel.open();
        try {
            channel.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            channel.bind(socketAddress, BACKLOG);
            channel.configureBlocking(false);
        } catch (IOException e) {
            channel.close();
            throw new IOException("cannot listen on " + address + ": " + e.getMessage(), e);
        }
        AdderAddress real = AdderAddress.of(channel.getLocalAddress());
        return new Listener(channel, AdderAddress.tcp(address.host(), real.port()), null);
    }

    void start() {
        running = true;
        thread.start();
    }

    List<AdderAddress> addresses() {
        return addresses;
    }

    boolean isRunning() {
        return running;
    }

    Throwable failure() {
        return failure;
    }

    ServerStats stats() {
        return new ServerStats(openConnections.get(), accepted.get(), refused.get(), requests.get(),
                bytesRead.get(), bytesWritten.get(), pendingOutput.get());
    }

    /**
     * Asks the loop to stop gracefully and waits for its thread to end, however
     * many threads call it and however often: each returns once the loop has
     * ended (or at once if it already had).
     */
    void stopAndAwait() {
        execute(this::beginStop);
        long limitMillis = config.drainTimeout().toMillis() + TimeUnit.SECONDS.toMillis(30);
        try {
            thread.join(limitMillis);
            if (thread.isAlive()) {
                log.error("adder event loop did not stop within {} ms; interrupting it", limitMillis);
                thread.interrupt();
                thread.join();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Runs {@code task} on the loop thread, soon. */
    void execute(Runnable task) {
        tasks.add(task);
        // read after the add: a rebuild that replaced the selector before this read is seen here,
        // and one after it runs the task anyway, since the loop runs its tasks before each select
        selector.wakeup();
    }

    /** Replaces the selector at the loop's next turn, as the spin guard does. */
    void rebuildSelectorSoon() {
        execute(() -> {
            try {
                rebuildSelector();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    // ---------------------------------------------------------------- the loop

    /**
     * Runs until stopped. Failures of one connection close that connection
     * alone (see {@link #serve}). Anything else that escapes a turn, an
     * {@link Error} such as {@link OutOfMemoryError} above all, ends the loop:
     * a server whose loop hit an Error cannot be trusted to keep its promises,
     * so it closes every connection and listener, removes its socket files,
     * and records the error for {@link AdderServer#failure()}.
     */

    @Override
    public void run() {
        try {
            if (!config.idleTimeout().isZero()) {
                nextIdleScan = now + idleScanInterval();
            }
            while (true) {
                boolean ranTasks = runTasks();
                if (stopping && drainFinished()) {
                    break;
                }
                long before = now;
                boolean polling = now - pollUntil < 0;
                long timeoutMillis = polling ? 0 : selectTimeoutMillis();
                int ready = polling ? selector.selectNow(onReady) : selector.select(onReady, timeoutMillis);
                now = System.nanoTime();
                if (ready > 0) {
                    pollUntil = now + busyPollNanos;
                }
                if (Thread.interrupted()) {
                    log.info("adder event loop thread was interrupted; stopping");
                    beginStop();
                }
                if (!polling) {
                    watchForSpinning(ready, ranTasks, before, timeoutMillis);
                }
                resumePausedListeners();
                closeIdleConnections();
            }
        } catch (Throwable t) {
            failure = t;
            log.error("adder event loop failed; the server has stopped", t);
        } finally {
            try {
                closeEverything();
            } finally {
                running = false;
            }
        }
    }

    private boolean runTasks() {
        boolean ran = false;
        Runnable task;
        while ((task = tasks.poll()) != null) {
            task.run();
            ran = true;
        }
        return ran;
    }

    /** 0 means: until something is ready. */
    private long selectTimeoutMillis() {
        long deadline = Long.MAX_VALUE;
        if (stopping) {
            deadline = Math.min(drainDeadline, now + DRAIN_QUIET_NANOS / 2);
        }
        if (nextIdleScan != 0) {
            deadline = Math.min(deadline, nextIdleScan);
        }
        for (Listener listener : listeners) {
            if (listener.paused) {
                deadline = Math.min(deadline, listener.pausedUntil);
            }
        }
        if (deadline == Long.MAX_VALUE) {
            return 0;
        }
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - now + 999_999));
    }

    /**
     * A selector can keep returning at once with nothing ready, burning a
     * core: JDK-6670302 ("NIO selector wakes up with 0 selected keys
     * infinitely"), an epoll bug that Netty and Jetty guard against the same
     * way. Past a threshold of such turns the selector is replaced by a fresh one.
     */
    private void watchForSpinning(int ready, boolean ranTasks, long before, long timeoutMillis) throws IOException {
        boolean early = ready == 0 && !ranTasks && tasks.isEmpty()
                && (timeoutMillis == 0 || now - before < TimeUnit.MILLISECONDS.toNanos(timeoutMillis) / 2);
        earlyWakeups = early ? earlyWakeups + 1 : 0;
        if (earlyWakeups >= EARLY_WAKEUPS_BEFORE_REBUILD) {
            log.warn("selector returned early {} times in a row with nothing ready; rebuilding it", earlyWakeups);
            rebuildSelector();
            earlyWakeups = 0;
        }
    }

    private void rebuildSelector() throws IOException {
        Selector fresh = Selector.open();
        for (SelectionKey key : selector.keys()) {
            if (!key.isValid()) {
                continue;
            }
            SelectableChannel channel = key.channel();
            int interest = key.interestOps();
            Object attachment = key.attachment();
            key.cancel();
            SelectionKey moved = channel.register(fresh, interest, attachment);
            if (attachment instanceof Connection connection) {
                connection.key = moved;
            } else {
                ((Listener) attachment).key = moved;
            }
        }
        selector.close();
        selector = fresh;
        selectorRebuilds++;
    }

    /** How many times the selector was replaced. */
    int selectorRebuilds() {
        return selectorRebuilds;
    }

    private void onReady(SelectionKey key) {
        Object attachment = key.attachment();
        if (attachment instanceof Connection connection) {
            serve(connection, key);
        } else {
            accept((Listener) attachment);
        }
    }

    // ---------------------------------------------------------------- accepting

    private void accept(Listener listener) {
        for (int i = 0; i < ACCEPTS_PER_TURN && !stopping; i++) {
            SocketChannel channel;
            try {
                channel = listener.channel.accept();
            } catch (IOException e) {
                pauseAccepting(listener, e);
                return;
            }
            if (channel == null) {
                return;
            }
            if (openConnections.get() >= config.maxConnections()) {
                refused.setRelease(refused.get() + 1);
                closeQuietly(channel);
                if (now - lastRefusalWarning >= WARNING_INTERVAL_NANOS) {
                    lastRefusalWarning = now;
                    log.warn("refusing connections on {}: {} are open, the maximum ({} refused so far)",
                            listener.address, config.maxConnections(), refused.get());
                }
                continue;
            }
            register(listener, channel);
        }
    }

    private void register(Listener listener, SocketChannel channel) {
        Connection connection = new Connection(++nextConnectionId, channel, listener.address, now);
        try {
            channel.configureBlocking(false);
            if (!listener.address.isUnix()) {
                channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
            connection.key = channel.register(selector, SelectionKey.OP_READ, connection);
        } catch (IOException e) {
            log.debug("{}: could not register: {}", connection, e.toString());
            closeQuietly(channel);
            return;
        }
        accepted.setRelease(accepted.get() + 1);
        openConnections.setRelease(openConnections.get() + 1);
        log.debug("{}: accepted", connection);
    }

    /** Level-triggered accept would spin on EMFILE; rest the listener instead. */
    private void pauseAccepting(Listener listener, IOException e) {
        if (now - lastAcceptFailureWarning >= WARNING_INTERVAL_NANOS) {
            lastAcceptFailureWarning = now;
            log.warn("accept on {} failed ({}); pausing accepts for {} ms", listener.address, e.getMessage(),
                    TimeUnit.NANOSECONDS.toMillis(ACCEPT_BACKOFF_NANOS));
        }
        if (listener.key.isValid()) {
            listener.key.interestOps(0);
            listener.paused = true;
            listener.pausedUntil = now + ACCEPT_BACKOFF_NANOS;
        }
    }

    private void resumePausedListeners() {
        for (Listener listener : listeners) {
            if (listener.paused && now - listener.pausedUntil >= 0) {
                listener.paused = false;
                if (listener.key.isValid()) {
                    listener.key.interestOps(SelectionKey.OP_ACCEPT);
                }
            }
        }
    }

    // ---------------------------------------------------------------- serving

    private void serve(Connection connection, SelectionKey key) {
        try {
            int ready = key.readyOps();
            if ((ready & SelectionKey.OP_WRITE) != 0) {
                flush(connection);
            }
            if ((ready & SelectionKey.OP_READ) != 0 && key.isValid()) {
                read(connection);
            }
        } catch (IOException e) {
            // resets and broken pipes are the peer's doing, not the server's
            log.debug("{}: closing after I/O error: {}", connection, e.toString());
            close(connection);
        } catch (RuntimeException e) {
            log.warn("{}: closing after unexpected error", connection, e);
            close(connection);
        }
    }

    /**
     * One read per connection per turn, at most the whole read buffer: the
     * fairness budget. A client with more to send is ready again next turn,
     * after every other ready client had its turn.
     */
    private void read(Connection connection) throws IOException {
        in.clear();
        if (overBudget) {
            in.limit(OVER_BUDGET_READ_BYTES);
        }
        int n = connection.channel.read(in);
        if (n < 0) {
            endOfInput(connection);
            return;
        }
        if (n == 0) {
            return;
        }
        connection.lastActiveNanos = now;
        bytesRead.setRelease(bytesRead.get() + n);
        if (!connection.draining) { // while stopping, requests read are dropped
            answer(connection);
        }
    }

    /** Answers every request completed by the bytes in {@code in}, in one write. */
    private void answer(Connection connection) throws IOException {
        in.flip();
        out.clear();
        int answered = connection.decoder.decode(in, answer);
        if (answered > 0) {
            requests.setRelease(requests.get() + answered);
            out.flip();
            send(connection);
        }
        if (connection.decoder.pendingBytes() > 0) {
            acknowledgeAtOnce(connection);
        }
        if (connection.pendingBytes() >= config.maxPendingOutput()) {
            connection.readPaused = true;
            updateInterest(connection);
        }
    }

    /**
     * A TCP client that writes {@code x} and {@code y} separately with Nagle's
     * algorithm on (the teaching client does) holds {@code y} until {@code x}
     * is acknowledged, while Linux delays that acknowledgement by up to 40 ms.
     * So when a read leaves half a request, acknowledge now. The kernel
     * clears TCP_QUICKACK by itself, hence it is set again each time.
     */
    private void acknowledgeAtOnce(Connection connection) {
        if (!quickAckSupported || connection.listener.isUnix()) {
            return;
        }
        try {
            connection.channel.setOption(ExtendedSocketOptions.TCP_QUICKACK, true);
        } catch (UnsupportedOperationException e) {
            quickAckSupported = false;
        } catch (IOException e) {
            log.debug("{}: could not set TCP_QUICKACK: {}", connection, e.toString());
        }
    }

    /** Writes {@code out} after whatever the connection already has pending. */
    private void send(Connection connection) throws IOException {
        if (connection.pendingBytes() > 0) {
            keepPending(connection);
            flush(connection);
            return;
        }
        int written = connection.channel.write(out);
        bytesWritten.setRelease(bytesWritten.get() + written);
        if (out.hasRemaining()) {
            keepPending(connection);
            updateInterest(connection);
        }
    }

    private void keepPending(Connection connection) {
        long total = pendingOutput.get() + out.remaining();
        pendingOutput.setRelease(total);
        if (total > peakPendingOutput) {
            peakPendingOutput = total;
        }
        connection.pending.append(out);
        watchBudget();
    }

    /** The most answers held for slow readers at once since the loop started. */
    long peakPendingOutput() {
        return peakPendingOutput;
    }

    private void flush(Connection connection) throws IOException {
        long written = connection.pending.writeTo(connection.channel, gather);
        if (written > 0) {
            connection.lastActiveNanos = now;
            bytesWritten.setRelease(bytesWritten.get() + written);
            pendingOutput.setRelease(pendingOutput.get() - written);
            watchBudget();
        }
        long pending = connection.pendingBytes();
        if (connection.readPaused && pending <= config.maxPendingOutput() / 2) {
            connection.readPaused = false;
        }
        if (pending == 0) {
            if (connection.inputClosed) {
                close(connection);
                return;
            }
            if (connection.draining) {
                shutdownOutput(connection);
            }
        }
        updateInterest(connection);
    }

    private void endOfInput(Connection connection) {
        int dropped = connection.decoder.pendingBytes();
        if (dropped > 0) {
            log.debug("{}: end of stream; dropping {} bytes of an unfinished request", connection, dropped);
        }
        connection.inputClosed = true;
        if (connection.pendingBytes() == 0) {
            close(connection);
        } else {
            updateInterest(connection);
        }
    }

    /**
     * Every per-connection limit needs a server-wide one beside it: many
     * clients that never read, each at its own limit, would add up to more
     * than the heap. Past the budget, connections that hold answers are not
     * read until the total has drained to half of it; clients that keep up
     * hold none and are still served.
     */
    private void watchBudget() {
        long total = pendingOutput.get();
        long budget = config.maxPendingOutputTotal();
        if (!overBudget && total >= budget) {
            overBudget = true;
            if (now - lastBudgetWarning >= WARNING_INTERVAL_NANOS) {
                lastBudgetWarning = now;
                log.warn("answers held for slow readers reached the budget of {} bytes; not reading the connections"
                        + " that hold answers until it is below {} bytes", budget, budget / 2);
            }
            updateInterestWherePending();
        } else if (overBudget && total <= budget / 2) {
            overBudget = false;
            updateInterestWherePending();
        }
    }

    private void updateInterestWherePending() {
        for (SelectionKey key : selector.keys()) {
            if (key.attachment() instanceof Connection connection && connection.pendingBytes() > 0) {
                updateInterest(connection);
            }
        }
    }

    /**
     * Interest follows state: read unless paused, over the budget with answers
     * held, or closed for input; write while output is pending.
     */
    private void updateInterest(Connection connection) {
        SelectionKey key = connection.key;
        if (!key.isValid()) {
            return;
        }
        int interest = 0;
        if (!connection.inputClosed && !connection.readPaused && !(overBudget && connection.pendingBytes() > 0)) {
            interest |= SelectionKey.OP_READ;
        }
        if (connection.pendingBytes() > 0) {
            interest |= SelectionKey.OP_WRITE;
        }
        if (key.interestOps() != interest) {
            key.interestOps(interest);
        }
    }

    private void closeIdleConnections() {
        if (nextIdleScan == 0 || now - nextIdleScan < 0) {
            return;
        }
        long idleNanos = config.idleTimeout().toNanos();
        for (SelectionKey key : selector.keys()) {
            if (key.attachment() instanceof Connection connection && now - connection.lastActiveNanos >= idleNanos) {
                log.debug("{}: closing after {} idle", connection, config.idleTimeout());
                close(connection);
            }
        }
        nextIdleScan = now + idleScanInterval();
    }

    private long idleScanInterval() {
        long quarter = config.idleTimeout().toNanos() / 4;
        return Math.max(TimeUnit.MILLISECONDS.toNanos(10), Math.min(quarter, TimeUnit.SECONDS.toNanos(1)));
    }

    private void close(Connection connection) {
        if (!connection.channel.isOpen()) {
            return;
        }
        connection.key.cancel();
        closeQuietly(connection.channel);
        openConnections.setRelease(openConnections.get() - 1);
        if (connection.pendingBytes() > 0) {
            pendingOutput.setRelease(pendingOutput.get() - connection.pendingBytes());
            watchBudget();
        }
        log.debug("{}: closed", connection);
    }

    // ---------------------------------------------------------------- stopping

    /**
     * Stops accepting and lets every connection flush the answers to what it
     * sent so far. "Sent so far" means received by this host: requests the
     * server has read, and those already in the connection's kernel receive
     * buffer (read now, up to 8 MiB a connection), whether or not the
     * connection was paused for backpressure. Requests arriving later are
     * read and dropped. A connection's
     * output is shut down once flushed, so its client sees the end of the
     * stream; the connection is closed when the client closes too, or after a
     * quiet spell, or at the drain deadline. Closing only when nothing is
     * unread avoids a TCP reset that would discard answers still in flight.
     */
    private void beginStop() {
        if (stopping) {
            return;
        }
        stopping = true;
        drainDeadline = now + config.drainTimeout().toNanos();
        for (Listener listener : listeners) {
            closeListener(listener);
        }
        for (SelectionKey key : selector.keys()) {
            if (key.attachment() instanceof Connection connection && connection.channel.isOpen()) {
                answerWhatArrived(connection);
                if (!connection.channel.isOpen()) {
                    continue;
                }
                connection.draining = true;
                connection.readPaused = false;
                if (connection.pendingBytes() == 0) {
                    shutdownOutput(connection);
                }
                updateInterest(connection);
            }
        }
        log.debug("adder server stopping: {} connections draining for at most {}",
                openConnections.get(), config.drainTimeout());
    }

    /** Reads and answers what the kernel holds for the connection now, till a read finds nothing. */
    private void answerWhatArrived(Connection connection) {
        try {
            long limit = STOP_READ_LIMIT_BYTES;
            while (limit > 0 && !connection.inputClosed && connection.channel.isOpen()) {
                in.clear();
                int n = connection.channel.read(in);
                if (n < 0) {
                    endOfInput(connection);
                } else if (n == 0) {
                    return;
                } else {
                    limit -= n;
                    connection.lastActiveNanos = now;
                    bytesRead.setRelease(bytesRead.get() + n);
                    answer(connection);
                }
            }
        } catch (IOException e) {
            log.debug("{}: closing after I/O error: {}", connection, e.toString());
            close(connection);
        }
    }

    private boolean drainFinished() {
        boolean pastDeadline = now - drainDeadline >= 0;
        for (SelectionKey key : selector.keys()) {
            if (key.attachment() instanceof Connection connection && connection.channel.isOpen()) {
                boolean flushedAndQuiet = connection.pendingBytes() == 0
                        && now - connection.lastActiveNanos >= DRAIN_QUIET_NANOS;
                if (pastDeadline || flushedAndQuiet) {
                    if (connection.pendingBytes() > 0) {
                        log.warn("{}: drain time over; closing with {} bytes of answers unsent",
                                connection, connection.pendingBytes());
                    }
                    close(connection);
                }
            }
        }
        return openConnections.get() == 0;
    }

    private static void shutdownOutput(Connection connection) {
        try {
            connection.channel.shutdownOutput();
        } catch (IOException e) {
            log.debug("{}: shutdown of output failed: {}", connection, e.toString());
        }
    }

    private void closeEverything() {
        for (Listener listener : listeners) {
            closeListener(listener);
        }
        try {
            for (SelectionKey key : selector.keys()) {
                if (key.attachment() instanceof Connection connection) {
                    close(connection);
                }
            }
            selector.close();
        } catch (RuntimeException | IOException e) {
            log.warn("error while closing the selector: {}", e.toString());
        }
        openConnections.set(0);
        pendingOutput.set(0);
        log.debug("adder server stopped: {}", stats());
    }

    private static void closeListener(Listener listener) {
        if (!listener.channel.isOpen()) {
            return;
        }
        if (listener.key != null) {
            listener.key.cancel();
        }
        closeQuietly(listener.channel);
        if (listener.file != null) {
            listener.file.remove();
        }
    }

    private static void closeQuietly(java.nio.channels.Channel channel) {
        try {
            channel.close();
        } catch (ClosedChannelException ignored) {
            // already closed
        } catch (IOException e) {
            log.debug("error closing {}: {}", channel, e.toString());
        }
    }
}
