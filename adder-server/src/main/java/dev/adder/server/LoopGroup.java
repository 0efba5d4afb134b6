package dev.adder.server;

import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The loops of one server: copies of the one loop, each with its own
 * selector and connections, sharing nothing per request. The first listens;
 * each connection it accepts goes to the running loop with the fewest
 * (Linux has no {@code SO_REUSEPORT} for Unix-domain sockets). The limits
 * hold for the group: the connection limit counts every loop's connections.
 * One loop failing stops them all: a server that lost a loop cannot keep its
 * promises. One loop alone is the whole group.
 *
 * <p>Stopping goes in order: the accepting loop first, and once its
 * listeners are closed (so that every hand-off already made is queued before
 * the others' stop) the others; then it waits for every thread to end.
 */
final class LoopGroup {

    private static final Logger log = LoggerFactory.getLogger(LoopGroup.class);

    private final ServerConfig config;
    /** The accepting loop first. */
    private final EventLoop[] loops;
    private final List<AdderAddress> addresses;
    /** What the TLS listeners share; null if there are none. */
    private final ServerTls tls;

    /**
     * Reads the TLS keys, binds every listener of the configuration and makes the loops, or binds
     * none: a failure closes what was bound.
     */
    LoopGroup(ServerConfig config) throws IOException {
        this.config = config;
        this.loops = new EventLoop[config.loops()];
        this.tls = config.listen().stream().anyMatch(AdderAddress::isTls) ? new ServerTls(config.tls()) : null;
        try {
            this.addresses = bindAndMakeLoops();
        } catch (IOException | RuntimeException e) {
            if (tls != null) {
                tls.close();
            }
            throw e;
        }
    }

    /** Binds the listeners and makes the loops; returns the addresses as bound. */
    private List<AdderAddress> bindAndMakeLoops() throws IOException {
        initializeIo();
        Selector selector = Selector.open();
        List<Listener> listeners;
        try {
            listeners = Listener.bindAll(config, selector);
        } catch (IOException | RuntimeException e) {
            selector.close();
            throw e;
        }
        try {
            String name = config.loops() == 1 ? config.threadName() : config.threadName() + "-0";
            loops[0] = new EventLoop(config, this, selector, listeners, name);
            for (int i = 1; i < loops.length; i++) {
                loops[i] = new EventLoop(config, this, Selector.open(), List.of(), config.threadName() + "-" + i);
            }
        } catch (IOException | RuntimeException e) {
            if (loops[0] == null) {
                listeners.forEach(Listener::close);
                selector.close();
            }
            for (EventLoop loop : loops) {
                if (loop != null) {
                    loop.closeEverything();
                }
            }
            throw e;
        }
        return listeners.stream().map(l -> l.address).toList();
    }

    /**
     * Has the JDK set up what its channel I/O needs while descriptors are to
     * be had. On Java 17 the class behind every socket write
     * ({@code sun.nio.ch.FileDispatcherImpl}) opens a descriptor as it is
     * initialized, which happened at the first write if nothing had used it:
     * a TCP-only daemon, out of descriptors when its first client wrote,
     * died of an {@link ExceptionInInitializerError} (DaemonIT's
     * {@code runningOutOfFileDescriptorsPausesAcceptingAndRecovers}). A file
     * channel initializes it; {@code /dev/null}'s, as a byte through a pipe
     * did too but left the daemon 1.5 MB larger (idle RSS, measured). Where
     * there is no {@code /dev/null} the first write does it, as before.
     */
    private static void initializeIo() {
        try (FileChannel devNull = FileChannel.open(Path.of("/dev/null"))) {
            devNull.size();
        } catch (IOException | UnsupportedOperationException e) {
            log.debug("could not open /dev/null to set up channel I/O early: {}", e.toString());
        }
    }

    void start() {
        for (EventLoop loop : loops) {
            loop.start();
        }
    }

    /** Every loop, the accepting one first. */
    List<EventLoop> loops() {
        return List.of(loops);
    }

    List<AdderAddress> addresses() {
        return addresses;
    }

    /** What the TLS listeners share; null if there are none. */
    ServerTls tls() {
        return tls;
    }

    /** Connections given to the loops and not yet closed: what the connection limit counts. Any thread. */
    int connections() {
        int sum = 0;
        for (EventLoop loop : loops) {
            sum += loop.connections.given.get();
        }
        return sum;
    }

    /** Gives a connection accepted by {@code from} to the running loop with the fewest ({@code from} if alone). */
    void handOff(EventLoop from, AdderAddress address, SocketChannel socket) {
        EventLoop target = from;
        for (EventLoop loop : loops) {
            if (loop.isRunning() && loop.connections.given.get() < target.connections.given.get()) {
                target = loop;
            }
        }
        target.connections.given.incrementAndGet();
        if (target == from) {
            target.serve(address, socket);
        } else {
            EventLoop chosen = target;
            target.execute(() -> chosen.serve(address, socket));
        }
    }

    /** Called by a loop that failed: the others stop too. */
    void loopFailed() {
        for (EventLoop loop : loops) {
            loop.requestStop();
        }
    }

    /** Stops every loop gracefully, in order, and waits for each to end; any thread, any number of times. */
    void stop() {
        EventLoop accepting = loops[0];
        accepting.requestStop();
        awaitStopBegun(accepting);
        for (EventLoop loop : loops) {
            loop.requestStop();
        }
        for (EventLoop loop : loops) {
            awaitEnd(loop);
        }
        if (tls != null) {
            tls.close();
        }
    }

    /** Returns once the loop's stop has begun (its queue runs in order), or at once if it has ended. */
    private static void awaitStopBegun(EventLoop loop) {
        CountDownLatch begun = new CountDownLatch(1);
        loop.execute(begun::countDown);
        try {
            while (!begun.await(10, TimeUnit.MILLISECONDS)) {
                if (!loop.thread().isAlive()) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits for the loop's thread to end, at most the drain timeout and 30 s more; then interrupts it. */
    private void awaitEnd(EventLoop loop) {
        Thread thread = loop.thread();
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

    /** Whether every loop runs: started, not yet stopped, none failed. */
    boolean isRunning() {
        for (EventLoop loop : loops) {
            if (!loop.isRunning()) {
                return false;
            }
        }
        return true;
    }

    /** The error that ended a loop, if one failed; null if none did. */
    Throwable failure() {
        for (EventLoop loop : loops) {
            if (loop.failure() != null) {
                return loop.failure();
            }
        }
        return null;
    }

    /** The loops' counters as one server's (see {@link ServerStats#sum}). */
    ServerStats stats() {
        if (loops.length == 1) {
            return loops[0].counters().snapshot();
        }
        return ServerStats.sum(loops().stream().map(loop -> loop.counters().snapshot()).toList());
    }
}
