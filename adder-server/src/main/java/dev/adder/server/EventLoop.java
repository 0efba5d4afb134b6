package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.core.poll.BusyPoll;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One thread and its {@link Selector}: select, the task queue and wake-up,
 * timers, busy-polling, the selector rebuild, stopping, and what happens when
 * the loop itself fails; and the loop's {@link Clock}, the time of its turn.
 * Every key's attachment is a {@link KeyHandler}, told of readiness with one
 * call: accepting is the {@link Acceptor}'s, a connection's protocol its
 * {@link Connection}'s, the sweeps {@link IdleSweep}'s and {@link DrainSweep}'s.
 *
 * <p>Other threads only enqueue tasks and wake the selector up; counters are
 * written by the loop alone and read by anyone.
 */
final class EventLoop implements Runnable, Clock {

    private static final Logger log = LoggerFactory.getLogger(EventLoop.class);

    /** Consecutive selects that return early with nothing ready before the selector is rebuilt. */
    private static final int EARLY_WAKEUPS_BEFORE_REBUILD = 512;

    private final ServerConfig config;
    private final LoopGroup group;
    private final Thread thread;
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    /** Volatile: other threads wake it up, and a rebuild replaces it. */
    private volatile Selector selector;
    private final LoopStats stats = new LoopStats();
    /** The loop's time, read once per turn: what every connection and timer sees. */
    private long now = System.nanoTime();
    private final Timers timers = new Timers();
    final Connections connections;
    private final Acceptor acceptor;
    private final IdleSweep idleSweep;
    private final DrainSweep drainSweep;
    /** Made once: a method reference evaluated at each select would allocate each turn. */
    private final Consumer<SelectionKey> onReady = this::onReady;
    private volatile boolean running;
    private volatile Throwable failure;
    private boolean stopping;
    private int earlyWakeups;
    /** Whether to poll without sleeping after a turn with work, learnt from the loop's recent turns. */
    private final BusyPoll busyPoll;
    private final LoopHealth health;
    private final Timers.Timer healthTick = timers.create(this::tickHealth);
    /** When the current turn's work began (the end of the last wait), and when its first ready channel was seen. */
    private long workStart = now;
    private long readyAt;
    private boolean sawReady;

    /** A loop of {@code group} serving on {@code selector}, accepting on {@code listeners} (none but on the first). */
    EventLoop(ServerConfig config, LoopGroup group, Selector selector, List<Listener> listeners, String threadName) {
        this.config = config;
        this.group = group;
        this.selector = selector;
        this.thread = new Thread(this, threadName);
        this.busyPoll = new BusyPoll(config.busyPoll().toNanos());
        this.health = new LoopHealth(stats, config.slowTurnWarning(), now);
        // the server-wide budget of held answers, shared out evenly: the loops together stay within it
        this.connections = new Connections(config.maxPendingOutput(), config.maxPendingOutputTotal() / config.loops(),
                stats, this);
        this.acceptor = new Acceptor(listeners, config.maxConnections(), this, group, timers, config.allowedPeers());
        this.idleSweep = new IdleSweep(config.idleTimeout(), connections, timers, this);
        this.drainSweep = new DrainSweep(config.drainTimeout(), connections, timers, this);
        if (group.tls() != null) {
            connections.serveTls(new LoopTls(group.tls(), this, timers, this));
        }
    }

    void start() {
        running = true;
        thread.start();
    }

    boolean isRunning() {
        return running;
    }

    Throwable failure() {
        return failure;
    }

    /** Every counter: a {@link LoopStats#snapshot} is what {@link ServerStats} shows. */
    LoopStats counters() {
        return stats;
    }

    @Override
    public long nanoTime() {
        return now;
    }

    @Override
    public long exactNanoTime() {
        return System.nanoTime();
    }

    /** Asks the loop to stop gracefully, soon; returns at once. */
    void requestStop() {
        execute(this::beginStop);
    }

    /** The loop's thread, for the group to wait on. */
    Thread thread() {
        return thread;
    }

    /** Runs {@code task} on the loop thread, soon. */
    void execute(Runnable task) {
        tasks.add(task);
        // read after the add: a rebuild that replaced the selector before this read is seen here,
        // and one after it runs the task anyway, since the loop runs its tasks before each select
        selector.wakeup();
    }

    /** On this loop's thread: serves a connection handed to it (one handed over as the stop began drains at once). */
    void serve(AdderAddress address, SocketChannel socket) {
        Connection connection = connections.register(socket, address, selector);
        if (connection != null && stopping) {
            connection.beginDrain();
        }
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

    /**
     * Runs until stopped. A failure of one connection closes it alone (see {@link Connection#onReady});
     * anything else that escapes a turn, an {@link Error} such as {@link OutOfMemoryError} above all, ends
     * the loop, which cannot be trusted to keep its promises then: it closes every connection and listener
     * (and their socket files), records the error for {@link AdderServer#failure()}, and has the group stop.
     */
    @Override
    public void run() {
        try {
            idleSweep.start();
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
                    stats.countSpins(polling, busyPoll.foundWork(polling, now));
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
            group.loopFailed();
        } finally {
            try {
                closeEverything();
            } finally {
                running = false;
            }
        }
    }

    private void onReady(SelectionKey key) {
        if (!sawReady) {
            sawReady = true;
            readyAt = System.nanoTime();
        }
        ((KeyHandler) key.attachment()).onReady(key.readyOps());
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
        selector = moveRegistrations(selector, (handler, moved) -> ((KeyHandler) handler).registeredAs(moved));
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

    private void tickHealth() {
        health.tick(now);
        timers.schedule(healthTick, now + LoopHealth.WINDOW_NANOS);
    }

    /**
     * Stops accepting and lets every connection answer what it received and
     * flush (see {@link DrainSweep}); the loop ends when every connection is
     * closed, at the drain deadline at the latest.
     */
    private void beginStop() {
        if (stopping) {
            return;
        }
        stopping = true;
        acceptor.close();
        idleSweep.stop();
        drainSweep.begin();
    }

    /** Closes every connection, listener (and its socket file) and the selector: at the loop's end, or for a loop never started. */
    void closeEverything() {
        acceptor.close();
        try {
            connections.closeAll();
            selector.close();
        } catch (RuntimeException | IOException e) {
            log.warn("error while closing the selector: {}", e.toString());
        }
        log.debug("adder server stopped: {}", stats.snapshot());
    }
}
