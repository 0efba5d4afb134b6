package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.core.HumanDuration;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardSocketOptions;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's one thread: a {@link Selector} over every listener and
 * connection. It holds the loop's mechanics and nothing of the protocol:
 * select, the task queue and wake-up, timers, busy-polling, accepting,
 * the selector rebuild, and what happens when the loop itself fails. A
 * connection's protocol is {@link Connection}'s.
 *
 * <p>Other threads only enqueue tasks and wake the selector up; counters are
 * written by the loop alone and read by anyone.
 */
final class EventLoop implements Runnable {

    private static final Logger log = LoggerFactory.getLogger(EventLoop.class);

    private static final int ACCEPTS_PER_TURN = 256;
    /** After accept() fails (out of file descriptors, say), listeners rest this long. */
    private static final long ACCEPT_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** Consecutive selects that return early with nothing ready before the selector is rebuilt. */
    private static final int EARLY_WAKEUPS_BEFORE_REBUILD = 512;

    private final ServerConfig config;
    /** An array, not a list: iterating it allocates no iterator. */
    private final Listener[] listeners;
    private final List<AdderAddress> addresses;
    private final Thread thread;
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    /** Volatile: other threads wake it up, and a rebuild replaces it. */
    private volatile Selector selector;
    private final LoopStats stats = new LoopStats();
    /** The loop's time, read once per turn: what every connection and timer sees. */
    private long now = System.nanoTime();
    private final Serving serving;
    private final Timers timers = new Timers();
    private final Timers.Timer idleScan = timers.create(this::closeIdleConnections);
    private final Timers.Timer drainCheck = timers.create(this::closeDrainedConnections);
    /** Made once: a method reference evaluated at each select would allocate each turn. */
    private final Consumer<SelectionKey> onReady = this::onReady;

    private volatile boolean running;
    private volatile Throwable failure;
    /**
     * The loops of the server, this one among them; the first accepts and
     * hands each connection to the loop with the fewest. One loop alone
     * is the whole group.
     */
    private EventLoop[] group = {this};
    /**
     * Connections given to this loop and not yet closed: raised by the loop
     * that accepted them (at the hand-off, before this loop registers them),
     * lowered by this loop when it closes one. Its sum over the group is what
     * the connection limit counts.
     */
    final AtomicInteger assigned = new AtomicInteger();
    /** Run when this loop fails, to stop the others too. */
    private Runnable onFailure = () -> { };

    private long nextConnectionId;
    private boolean stopping;
    private long drainDeadline;
    private final RateLimit refusalWarnings = new RateLimit();
    private final RateLimit acceptFailureWarnings = new RateLimit();
    private int earlyWakeups;
    /** Whether to poll without sleeping after a turn with work, learnt from the loop's recent turns. */
    private final BusyPoll busyPoll;
    private final LoopHealth health;
    private final Timers.Timer healthTick = timers.create(this::tickHealth);
    /** When the current turn's work began: the end of the last wait. */
    private long workStart = now;
    /** When this turn's first ready channel was seen; valid once {@link #sawReady}. */
    private long readyAt;
    private boolean sawReady;

    private EventLoop(ServerConfig config, Selector selector, List<Listener> listeners, String threadName) {
        this.config = config;
        this.selector = selector;
        this.listeners = listeners.toArray(Listener[]::new);
        this.addresses = listeners.stream().map(l -> l.address).toList();
        this.thread = new Thread(this, threadName);
        this.busyPoll = new BusyPoll(config.busyPoll().toNanos(), stats);
        this.health = new LoopHealth(stats, config.slowTurnWarning(), now);
        // the server-wide budget of held answers, shared out evenly: the loops together stay within it
        this.serving = new Serving(config.maxPendingOutput(), config.maxPendingOutputTotal() / config.loops(), stats,
                new Clock() {
                    @Override
                    public long nanoTime() {
                        return now;
                    }

                    @Override
                    public long exactNanoTime() {
                        return System.nanoTime();
                    }
                }, assigned);
        for (Listener listener : this.listeners) {
            listener.resume = timers.create(() -> listener.interest(SelectionKey.OP_ACCEPT));
        }
    }

    /** Binds every listener of the configuration, or none: a failure closes what was bound. */
    static EventLoop bind(ServerConfig config) throws IOException {
        Selector selector = Selector.open();
        try {
            String name = config.loops() == 1 ? config.threadName() : config.threadName() + "-0";
            return new EventLoop(config, selector, Listener.bindAll(config, selector), name);
        } catch (IOException | RuntimeException e) {
            selector.close();
            throw e;
        }
    }

    /** A loop of the group that listens on nothing: the accepting loop hands it connections. */
    static EventLoop serving(ServerConfig config, int index) throws IOException {
        return new EventLoop(config, Selector.open(), List.of(), config.threadName() + "-" + index);
    }

    /** The whole group, this loop first, and what to do when one fails; before {@link #start()}. */
    void join(EventLoop[] group, Runnable onFailure) {
        this.group = group;
        this.onFailure = onFailure;
    }

    void start() {
        running = true;
        thread.start();
    }

    /** Closes what a loop that never started holds: its listeners (and their socket files) and selector. */
    void closeUnstarted() {
        closeEverything();
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
        return stats.snapshot();
    }

    /** Every counter, including those {@link ServerStats} does not show. */
    LoopStats counters() {
        return stats;
    }

    /**
     * Asks the loop to stop gracefully and waits for its thread to end, however
     * many threads call it and however often: each returns once the loop has
     * ended (or at once if it already had).
     */
    void stopAndAwait() {
        requestStop();
        awaitStop();
    }

    /** Asks the loop to stop gracefully, soon; returns at once. */
    void requestStop() {
        execute(this::beginStop);
    }

    /**
     * Returns once the loop's stop has begun: its listeners are closed, so it
     * hands no more connections to the other loops (or at once if it has ended).
     */
    void awaitStopBegun() {
        CountDownLatch begun = new CountDownLatch(1);
        execute(begun::countDown); // after the stop task: the queue is run in order
        try {
            while (!begun.await(10, TimeUnit.MILLISECONDS)) {
                if (!thread.isAlive()) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits for the loop's thread to end, at most the drain timeout and 30 s more; then interrupts it. */
    void awaitStop() {
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
                throw new UncheckedIOException(e);
            }
        });
    }

    // ---------------------------------------------------------------- the loop

    /**
     * Runs until stopped. Failures of one connection close that connection
     * alone (see {@link Connection#onReady}). Anything else that escapes a
     * turn, an {@link Error} such as {@link OutOfMemoryError} above all, ends
     * the loop: a server whose loop hit an Error cannot be trusted to keep its
     * promises, so it closes every connection and listener, removes its socket
     * files, and records the error for {@link AdderServer#failure()}.
     */
    @Override
    public void run() {
        try {
            if (!config.idleTimeout().isZero()) {
                timers.schedule(idleScan, now + idleScanInterval());
            }
            timers.schedule(healthTick, now + LoopHealth.WINDOW_NANOS);
            while (true) {
                boolean ranTasks = runTasks();
                if (stopping && stats.openConnections.get() == 0) {
                    break;
                }
                long before = now;
                boolean polling = busyPoll.poll(now);
                long timeoutMillis = polling ? 0 : selectTimeoutMillis();
                long waitStart = System.nanoTime();
                health.worked(waitStart - workStart, waitStart);
                sawReady = false;
                int ready = polling ? selector.selectNow(onReady) : selector.select(onReady, timeoutMillis);
                now = System.nanoTime();
                workStart = sawReady ? readyAt : now;
                if (ready > 0) {
                    busyPoll.foundWork(polling, now);
                }
                if (Thread.interrupted()) {
                    log.info("adder event loop thread was interrupted; stopping");
                    beginStop();
                }
                if (!polling) {
                    watchForSpinning(ready, ranTasks, before, timeoutMillis);
                }
                timers.runDue(now);
            }
        } catch (Throwable t) {
            failure = t;
            log.error("adder event loop failed; the server has stopped", t);
            onFailure.run();
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

    /** Until the next timer is due; 0 means: until something is ready. */
    private long selectTimeoutMillis() {
        if (!timers.any()) {
            return 0;
        }
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(timers.nextDeadline() - now + 999_999));
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
        selector = moveRegistrations(selector, (attachment, moved) -> {
            if (attachment instanceof SocketConnectionChannel channel) {
                channel.key = moved;
            } else {
                ((Listener) attachment).key = moved;
            }
        });
        stats.selectorRebuilds.add(1);
    }

    /**
     * Registers every valid key's channel, interest and attachment with a
     * fresh selector, tells {@code moved} each new key, and closes the old one.
     */
    static Selector moveRegistrations(Selector old, BiConsumer<Object, SelectionKey> moved) throws IOException {
        Selector fresh = Selector.open();
        for (SelectionKey key : old.keys()) {
            if (!key.isValid()) {
                continue;
            }
            SelectableChannel channel = key.channel();
            int interest = key.interestOps();
            Object attachment = key.attachment();
            key.cancel();
            moved.accept(attachment, channel.register(fresh, interest, attachment));
        }
        old.close();
        return fresh;
    }

    private void onReady(SelectionKey key) {
        if (!sawReady) {
            sawReady = true;
            readyAt = System.nanoTime();
        }
        if (key.attachment() instanceof SocketConnectionChannel channel) {
            channel.connection.onReady(key.readyOps());
        } else {
            accept((Listener) key.attachment());
        }
    }

    // ---------------------------------------------------------------- accepting

    private void accept(Listener listener) {
        for (int i = 0; i < ACCEPTS_PER_TURN && !stopping; i++) {
            SocketChannel socket;
            try {
                socket = listener.channel.accept();
            } catch (IOException e) {
                pauseAccepting(listener, e);
                return;
            }
            if (socket == null) {
                return;
            }
            if (assignedInGroup() >= config.maxConnections()) {
                stats.refused.add(1);
                new SocketConnectionChannel(socket, false).close();
                if (refusalWarnings.allow(now)) {
                    log.warn("refusing connections on {}: {} are open, the maximum ({} refused so far)",
                            listener.address, config.maxConnections(), stats.refused.get());
                }
                continue;
            }
            handOff(listener.address, socket);
        }
    }

    private int assignedInGroup() {
        int sum = 0;
        for (EventLoop loop : group) {
            sum += loop.assigned.get();
        }
        return sum;
    }

    /** To the running loop with the fewest connections (this one, alone in its group). */
    private void handOff(AdderAddress address, SocketChannel socket) {
        EventLoop target = this;
        for (EventLoop loop : group) {
            if (loop.running && loop.assigned.get() < target.assigned.get()) {
                target = loop;
            }
        }
        target.assigned.incrementAndGet();
        if (target == this) {
            register(address, socket);
        } else {
            EventLoop chosen = target;
            target.execute(() -> chosen.register(address, socket));
        }
    }

    /** On this loop's thread: serves a connection accepted for it. */
    private void register(AdderAddress address, SocketChannel socket) {
        boolean tcp = !address.isUnix();
        SocketConnectionChannel channel = new SocketConnectionChannel(socket, tcp);
        channel.connection = new Connection(++nextConnectionId, channel, address, serving);
        try {
            socket.configureBlocking(false);
            if (tcp) {
                socket.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
            channel.key = socket.register(selector, SelectionKey.OP_READ, channel);
        } catch (IOException e) {
            log.debug("{}: could not register: {}", channel.connection, e.toString());
            channel.close();
            assigned.decrementAndGet();
            return;
        }
        stats.accepted.add(1);
        stats.openConnections.add(1);
        log.debug("{}: accepted", channel.connection);
        if (stopping) { // handed over just before the stop began: answered and closed like the others
            channel.connection.beginDrain();
        }
    }

    /** Level-triggered accept would spin on EMFILE; rest the listener instead. */
    private void pauseAccepting(Listener listener, IOException e) {
        if (acceptFailureWarnings.allow(now)) {
            log.warn("accept on {} failed ({}); pausing accepts for {} ms", listener.address, e.getMessage(),
                    TimeUnit.NANOSECONDS.toMillis(ACCEPT_BACKOFF_NANOS));
        }
        if (listener.interest(0)) {
            timers.schedule(listener.resume, now + ACCEPT_BACKOFF_NANOS);
        }
    }

    private void tickHealth() {
        health.tick(now);
        timers.schedule(healthTick, now + LoopHealth.WINDOW_NANOS);
    }

    private void closeIdleConnections() {
        long idleNanos = config.idleTimeout().toNanos();
        forEachConnection(connection -> connection.closeIfIdle(idleNanos));
        timers.schedule(idleScan, now + idleScanInterval());
    }

    /** Every connection registered now; closing one meanwhile is safe (a cancelled key leaves the set at the next select). */
    private void forEachConnection(Consumer<Connection> action) {
        for (SelectionKey key : selector.keys()) {
            if (key.attachment() instanceof SocketConnectionChannel channel) {
                action.accept(channel.connection);
            }
        }
    }

    private long idleScanInterval() {
        long quarter = config.idleTimeout().toNanos() / 4;
        return Math.max(TimeUnit.MILLISECONDS.toNanos(10), Math.min(quarter, TimeUnit.SECONDS.toNanos(1)));
    }

    // ---------------------------------------------------------------- stopping

    /**
     * Stops accepting and lets every connection answer what it received and
     * flush (see {@link Connection#beginDrain}); the loop ends when every
     * connection is closed, at the drain deadline at the latest.
     */
    private void beginStop() {
        if (stopping) {
            return;
        }
        stopping = true;
        drainDeadline = now + config.drainTimeout().toNanos();
        for (Listener listener : listeners) {
            listener.close();
            timers.cancel(listener.resume);
        }
        timers.cancel(idleScan);
        forEachConnection(Connection::beginDrain);
        timers.schedule(drainCheck, now);
        log.debug("adder server stopping: {} connections draining for at most {}",
                stats.openConnections.get(), HumanDuration.format(config.drainTimeout()));
    }

    private void closeDrainedConnections() {
        boolean pastDeadline = now - drainDeadline >= 0;
        forEachConnection(connection -> connection.closeIfDrained(pastDeadline));
        timers.schedule(drainCheck, Math.min(drainDeadline, now + Connection.DRAIN_QUIET_NANOS / 2));
    }

    private void closeEverything() {
        for (Listener listener : listeners) {
            listener.close();
        }
        try {
            forEachConnection(Connection::close);
            selector.close();
        } catch (RuntimeException | IOException e) {
            log.warn("error while closing the selector: {}", e.toString());
        }
        stats.openConnections.set(0);
        assigned.set(0);
        stats.pendingOutput.set(0);
        log.debug("adder server stopped: {}", stats());
    }
}
