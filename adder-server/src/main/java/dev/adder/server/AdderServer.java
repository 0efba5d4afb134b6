package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.core.HumanDuration;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import javax.management.InstanceAlreadyExistsException;
import javax.management.JMException;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An adder server: one thread, one {@link java.nio.channels.Selector}, any
 * number of clients on Unix-domain and TCP listeners at once.
 *
 * <pre>{@code
 * try (AdderServer server = AdderServer.builder()
 *         .listen("unix:adder.sock")
 *         .listen("tcp:127.0.0.1:0")
 *         .build()) {
 *     server.start();
 *     System.out.println("listening on " + server.addresses());
 *     // ... serve until the application stops ...
 * }
 * }</pre>
 *
 * <p>{@link #start()} binds every listener and returns once clients can
 * connect; {@link #close()} stops gracefully, answering every request the
 * server has already received. All methods are safe to call from any thread.
 */
public final class AdderServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AdderServer.class);
    /** The JMX name the statistics are registered under unless {@link Builder#jmxName} says otherwise. */
    public static final String DEFAULT_JMX_NAME = "dev.adder:type=AdderServer";

    /** Default maximum number of open connections. */
    public static final int DEFAULT_MAX_CONNECTIONS = 10_000;
    /** Default pending output per connection, in bytes, past which the connection is not read. */
    public static final int DEFAULT_MAX_PENDING_OUTPUT = 1 << 20;
    /** Default idle timeout: none, connections may stay idle as long as they like. */
    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ZERO;
    /** Default busy-poll window after a turn that found work: see {@link Builder#busyPoll}. */
    public static final Duration DEFAULT_BUSY_POLL = Duration.ofNanos(25_000);
    /** Largest {@link Builder#loops}. */
    public static final int MAX_LOOPS = 256;
    /** Default time {@link #close()} lets connections flush their answers. */
    public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(5);
    /** Default length of a loop turn that logs a warning: see {@link Builder#slowTurnWarning}. */
    public static final Duration DEFAULT_SLOW_TURN_WARNING = Duration.ofMillis(100);

    /** Largest {@link Builder#maxConnections}: far more than one loop serves well. */
    public static final int MAX_MAX_CONNECTIONS = 1_000_000;
    /** Smallest {@link Builder#maxPendingOutput}: a few answers. */
    public static final int MIN_MAX_PENDING_OUTPUT = 64;
    /** Largest {@link Builder#maxPendingOutput}: 1 GiB. */
    public static final int MAX_MAX_PENDING_OUTPUT = 1 << 30;
    /** Smallest {@link Builder#maxPendingOutputTotal}: 64 KiB. */
    public static final long MIN_MAX_PENDING_OUTPUT_TOTAL = 64 * 1024;
    /** Largest {@link Builder#maxPendingOutputTotal}: 1 TiB. */
    public static final long MAX_MAX_PENDING_OUTPUT_TOTAL = 1L << 40;
    /** Shortest idle timeout other than zero (never). */
    public static final Duration MIN_IDLE_TIMEOUT = Duration.ofMillis(1);
    /** Longest idle timeout: 30 days. */
    public static final Duration MAX_IDLE_TIMEOUT = Duration.ofDays(30);
    /** Longest drain timeout: 1 hour. */
    public static final Duration MAX_DRAIN_TIMEOUT = Duration.ofHours(1);
    /** Shortest {@link Builder#slowTurnWarning} other than zero (never). */
    public static final Duration MIN_SLOW_TURN_WARNING = Duration.ofMillis(1);
    /** Longest {@link Builder#slowTurnWarning}: 1 hour. */
    public static final Duration MAX_SLOW_TURN_WARNING = Duration.ofHours(1);
    /**
     * Longest busy-poll window: 1 ms. A window longer than a wake-up costs
     * (tens of microseconds) buys nothing more and burns a core after each burst.
     */
    public static final Duration MAX_BUSY_POLL = Duration.ofMillis(1);

    /**
     * The default {@link Builder#maxPendingOutputTotal}: a quarter of the
     * JVM's maximum heap ({@code -Xmx}), at least 64 KiB. With
     * {@code -Xmx64m} that is 16 MiB.
     *
     * @return the budget in bytes
     */
    public static long defaultMaxPendingOutputTotal() {
        return Math.min(MAX_MAX_PENDING_OUTPUT_TOTAL,
                Math.max(MIN_MAX_PENDING_OUTPUT_TOTAL, Runtime.getRuntime().maxMemory() / 4));
    }

    private final ServerConfig config;
    private final Object lifecycle = new Object();
    /** The loops, the accepting one first; empty before {@link #start()}. */
    private List<EventLoop> loops = List.of();
    private ObjectName mbeanName;
    private boolean started;
    private boolean closed;

    private AdderServer(ServerConfig config) {
        this.config = config;
    }

    /**
     * A builder for a server; at least one {@code listen} address is required.
     *
     * @return a builder with every default
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Binds every listen address and starts the event loop. Returns once
     * clients can connect.
     *
     * @throws IOException if an address cannot be bound: in use, a file that
     *         is not a socket at a Unix socket path, no permission; the message
     *         names the address. Nothing stays bound after a failure.
     * @throws IllegalStateException if the server was started or closed before
     */
    public void start() throws IOException {
        synchronized (lifecycle) {
            if (started || closed) {
                throw new IllegalStateException(closed ? "server is closed" : "server is already started");
            }
            List<EventLoop> group = new ArrayList<>();
            group.add(EventLoop.bind(config));
            try {
                for (int i = 1; i < config.loops(); i++) {
                    group.add(EventLoop.serving(config, i));
                }
            } catch (IOException | RuntimeException e) {
                group.forEach(EventLoop::closeUnstarted);
                throw e;
            }
            EventLoop[] members = group.toArray(EventLoop[]::new);
            // one loop failing stops them all: a server that lost a loop cannot keep its promises
            Runnable stopAll = () -> group.forEach(EventLoop::requestStop);
            group.forEach(loop -> loop.join(members, stopAll));
            started = true;
            loops = List.copyOf(group);
            loops.forEach(EventLoop::start);
            if (config.registerMBean()) {
                registerMBean();
            }
            log.info("adder server started on {}; {}max connections {}, idle timeout {}, max pending output {} bytes"
                            + " ({} in total), drain timeout {}, busy poll {}",
                    addresses(), config.loops() == 1 ? "" : config.loops() + " loops, ", config.maxConnections(),
                    config.idleTimeout().isZero() ? "off" : HumanDuration.format(config.idleTimeout()),
                    config.maxPendingOutput(), config.maxPendingOutputTotal(), HumanDuration.format(config.drainTimeout()),
                    HumanDuration.format(config.busyPoll()));
        }
    }

    /**
     * Stops gracefully: stops accepting, answers every request already
     * received, flushes, closes every connection (waiting at most the drain
     * timeout for slow readers), removes the Unix socket files this server
     * created, and returns once the loop thread has ended. Idempotent.
     */
    @Override
    public void close() {
        List<EventLoop> stopping;
        boolean first;
        synchronized (lifecycle) {
            first = !closed;
            if (first) {
                closed = true;
                unregisterMBean();
            }
            stopping = loops;
        }
        if (!stopping.isEmpty()) {
            // the accepting loop first: once its listeners are closed it hands out no more connections,
            // and every hand-off already made is queued before the other loops' stop
            EventLoop accepting = stopping.get(0);
            accepting.requestStop();
            accepting.awaitStopBegun();
            stopping.forEach(EventLoop::requestStop);
            stopping.forEach(EventLoop::awaitStop); // every caller waits: a second close() returns when they have ended
            if (first) {
                log.info("adder server stopped: {}", stats().summary());
            }
        }
    }

    /**
     * The longest time {@link #close()} lets connections flush their answers.
     *
     * @return the drain timeout
     */
    public Duration drainTimeout() {
        return config.drainTimeout();
    }

    /**
     * The addresses the server listens on, with the real port where port 0
     * was asked for. Empty before {@link #start()}.
     *
     * @return the addresses, in the order they were given
     */
    public List<AdderAddress> addresses() {
        EventLoop current = currentLoop();
        return current == null ? List.of() : current.addresses();
    }

    /**
     * How many event loops serve: {@link Builder#loops}.
     *
     * @return the number of loops
     */
    public int loops() {
        return config.loops();
    }

    /**
     * Whether the event loops are running: started, not yet stopped, none failed.
     *
     * @return true while the loops serve
     */
    public boolean isRunning() {
        List<EventLoop> current = currentLoops();
        return !current.isEmpty() && current.stream().allMatch(EventLoop::isRunning);
    }

    /**
     * The error that ended an event loop, if one failed rather than being
     * closed (a failing loop stops the others).
     *
     * @return the error, or empty if no loop has failed
     */
    public Optional<Throwable> failure() {
        return currentLoops().stream().map(EventLoop::failure).filter(Objects::nonNull).findFirst();
    }

    /**
     * The server's counters now, summed over its loops (the loop figures:
     * {@code busyNanos} summed, {@code busyShare} the loops' mean,
     * {@code longestTurnNanos} the longest). All zero before {@link #start()}.
     *
     * @return a snapshot of the counters
     */
    public ServerStats stats() {
        List<EventLoop> current = currentLoops();
        if (current.size() == 1) {
            return current.get(0).stats();
        }
        return ServerStats.sum(current.stream().map(EventLoop::stats).toList());
    }

    /** The accepting loop, for tests in this package; null before {@link #start()}. */
    EventLoop currentLoop() {
        List<EventLoop> current = currentLoops();
        return current.isEmpty() ? null : current.get(0);
    }

    /** Every loop, the accepting one first; empty before {@link #start()}. */
    List<EventLoop> currentLoops() {
        synchronized (lifecycle) {
            return loops;
        }
    }

    /**
     * The JMX name the statistics are registered under while the server runs,
     * if they are: see {@link Builder#registerMBean} and {@link Builder#jmxName}.
     *
     * @return the name, or empty if not registered (not asked for, not running, or the name was taken)
     */
    public Optional<ObjectName> jmxName() {
        synchronized (lifecycle) {
            return Optional.ofNullable(mbeanName);
        }
    }

    private void registerMBean() {
        ObjectName name = config.jmxName();
        try {
            ManagementFactory.getPlatformMBeanServer().registerMBean(new Statistics(this), name);
            mbeanName = name;
        } catch (InstanceAlreadyExistsException e) {
            log.warn("could not register the adder server's statistics in JMX: the name {} is taken (by another"
                    + " server in this JVM?); give each server its own with jmxName", name);
        } catch (JMException | RuntimeException e) {
            log.warn("could not register the adder server's statistics in JMX as {}: {}", name, e.toString());
        }
    }

    private void unregisterMBean() {
        if (mbeanName == null) {
            return;
        }
        try {
            ManagementFactory.getPlatformMBeanServer().unregisterMBean(mbeanName);
        } catch (JMException | RuntimeException e) {
            log.debug("could not unregister {}: {}", mbeanName, e.toString());
        }
        mbeanName = null;
    }

    /** The MXBean view of a server. */
    private static final class Statistics implements AdderServerMXBean {
        private final AdderServer server;

        Statistics(AdderServer server) {
            this.server = server;
        }

        @Override
        public List<String> getAddresses() {
            return server.addresses().stream().map(AdderAddress::toString).toList();
        }

        @Override
        public boolean isRunning() {
            return server.isRunning();
        }

        @Override
        public long getOpenConnections() {
            return server.stats().openConnections();
        }

        @Override
        public long getAcceptedConnections() {
            return server.stats().accepted();
        }

        @Override
        public long getRefusedConnections() {
            return server.stats().refused();
        }

        @Override
        public long getRequests() {
            return server.stats().requests();
        }

        @Override
        public long getBytesRead() {
            return server.stats().bytesRead();
        }

        @Override
        public long getBytesWritten() {
            return server.stats().bytesWritten();
        }

        @Override
        public long getPendingOutputBytes() {
            return server.stats().pendingOutput();
        }

        @Override
        public long getLoopBusyNanos() {
            return server.stats().busyNanos();
        }

        @Override
        public double getLoopBusyShare() {
            return server.stats().busyShare();
        }

        @Override
        public double getLoopLongestTurnMillis() {
            return server.stats().longestTurnNanos() / 1e6;
        }
    }

    /** Settings of a server; every one has a default but the listen addresses. */
    public static final class Builder {
        private final List<AdderAddress> listen = new ArrayList<>();
        private int maxConnections = DEFAULT_MAX_CONNECTIONS;
        private int maxPendingOutput = DEFAULT_MAX_PENDING_OUTPUT;
        private long maxPendingOutputTotal = defaultMaxPendingOutputTotal();
        private Duration idleTimeout = DEFAULT_IDLE_TIMEOUT;
        private Duration drainTimeout = DEFAULT_DRAIN_TIMEOUT;
        private Duration slowTurnWarning = DEFAULT_SLOW_TURN_WARNING;
        private Duration busyPoll = DEFAULT_BUSY_POLL;
        private Set<PosixFilePermission> unixSocketPermissions;
        private boolean registerMBean;
        private ObjectName jmxName;
        private String threadName = "adder-loop";
        private int loops = 1;

        private Builder() {
        }

        /**
         * Adds an address to listen on: {@code unix:PATH}, {@code tcp:HOST:PORT} or {@code HOST:PORT}.
         *
         * @param address the address as written
         * @return this builder
         */
        public Builder listen(String address) {
            return listen(AdderAddress.parse(address));
        }

        /**
         * Adds an address to listen on; TCP port 0 picks a free port.
         *
         * @param address the address
         * @return this builder
         */
        public Builder listen(AdderAddress address) {
            listen.add(Objects.requireNonNull(address, "address"));
            return this;
        }

        /**
         * Most connections open at once (default 10,000).
         * A connection past it is accepted and closed at once, and counted as refused.
         *
         * @param maxConnections from 1 to 1,000,000
         * @return this builder
         */
        public Builder maxConnections(int maxConnections) {
            if (maxConnections < 1 || maxConnections > MAX_MAX_CONNECTIONS) {
                throw new IllegalArgumentException("maxConnections must be from 1 to " + MAX_MAX_CONNECTIONS
                        + ", not " + maxConnections);
            }
            this.maxConnections = maxConnections;
            return this;
        }

        /**
         * Bytes of answers a connection may have waiting for its client to read
         * before the server stops reading its requests (default 1 MiB, from 64
         * bytes to 1 GiB). Reading resumes once half of it has drained. A
         * connection holds at most this plus the answers to one read (128 KiB).
         *
         * @param bytes from 64 bytes to 1 GiB
         * @return this builder
         */
        public Builder maxPendingOutput(int bytes) {
            if (bytes < MIN_MAX_PENDING_OUTPUT || bytes > MAX_MAX_PENDING_OUTPUT) {
                throw new IllegalArgumentException("maxPendingOutput must be from " + MIN_MAX_PENDING_OUTPUT
                        + " bytes to " + MAX_MAX_PENDING_OUTPUT + " bytes, not " + bytes);
            }
            this.maxPendingOutput = bytes;
            return this;
        }

        /**
         * Bytes of answers all connections together may have waiting for their
         * clients (default: {@link #defaultMaxPendingOutputTotal()}, a quarter
         * of the maximum heap; from 64 KiB to 1 TiB). Past it, the server
         * stops reading every connection that holds answers until the total
         * has drained to half of it; clients that read their answers hold none
         * and are still served. So clients that never read cannot exhaust the
         * heap, however many connect.
         *
         * @param bytes from 64 KiB to 1 TiB
         * @return this builder
         */
        public Builder maxPendingOutputTotal(long bytes) {
            if (bytes < MIN_MAX_PENDING_OUTPUT_TOTAL || bytes > MAX_MAX_PENDING_OUTPUT_TOTAL) {
                throw new IllegalArgumentException("maxPendingOutputTotal must be from " + MIN_MAX_PENDING_OUTPUT_TOTAL
                        + " bytes to " + MAX_MAX_PENDING_OUTPUT_TOTAL + " bytes, not " + bytes);
            }
            this.maxPendingOutputTotal = bytes;
            return this;
        }

        /**
         * Closes a connection with no traffic for this long; zero (the default)
         * means never. Otherwise from 1 ms to 30 days.
         *
         * @param idleTimeout zero, or from 1 ms to 30 days
         * @return this builder
         */
        public Builder idleTimeout(Duration idleTimeout) {
            this.idleTimeout = inRange("idleTimeout", idleTimeout, MIN_IDLE_TIMEOUT, MAX_IDLE_TIMEOUT);
            return this;
        }

        /**
         * Longest time {@link AdderServer#close()} waits for answers to drain (default 5 s, at most 1 hour).
         *
         * @param drainTimeout from zero to 1 hour
         * @return this builder
         */
        public Builder drainTimeout(Duration drainTimeout) {
            this.drainTimeout = inRange("drainTimeout", drainTimeout, Duration.ZERO, MAX_DRAIN_TIMEOUT);
            return this;
        }

        /**
         * The busy-poll window (default 25 µs; zero: never poll, always sleep
         * in {@code select}). After a turn that found work the loop may poll
         * without sleeping for up to this long: when work comes within it, the
         * loop saves the thread's sleep and wake-up, which cost more latency
         * and CPU than the polls. Whether it polls is learnt from its recent
         * turns: it polls after every turn with work while polls keep finding
         * work within the window, and stops after three in a row that do not
         * (requests further apart than the window), then tries one now and
         * then, at most once in 1,024 turns while they keep failing. So
         * traffic with gaps longer than the window costs almost nothing, and
         * an idle server uses no CPU. The window is also the longest gap worth
         * spinning through: 25 µs catches a client answering back at once
         * (about 10 µs here), not requests paced 50 µs apart. At most 1 ms.
         *
         * @param busyPoll from zero to 1 ms
         * @return this builder
         */
        public Builder busyPoll(Duration busyPoll) {
            this.busyPoll = inRange("busyPoll", busyPoll, Duration.ZERO, MAX_BUSY_POLL);
            return this;
        }

        /**
         * A loop turn (its work between two waits) at least this long logs a
         * warning, at most one line every five seconds (default 100 ms; zero:
         * never). Such a turn is a GC pause or a slow task, and every
         * connection of the loop waited through it. {@link #stats()} gives
         * the longest recent turn whatever this setting.
         *
         * @param slowTurnWarning zero, or from 1 ms to 1 hour
         * @return this builder
         */
        public Builder slowTurnWarning(Duration slowTurnWarning) {
            this.slowTurnWarning = inRange("slowTurnWarning", slowTurnWarning, MIN_SLOW_TURN_WARNING,
                    MAX_SLOW_TURN_WARNING);
            return this;
        }

        /**
         * Permissions of the Unix socket files, applied before any client can
         * connect (for example {@code PosixFilePermissions.fromString("rw-------")}).
         * By default the process's umask decides.
         *
         * @param permissions the permissions, or null for the umask
         * @return this builder
         */
        public Builder unixSocketPermissions(Set<PosixFilePermission> permissions) {
            this.unixSocketPermissions = permissions == null ? null : EnumSet.copyOf(permissions);
            return this;
        }

        /**
         * Registers the statistics as a JMX MBean while the server runs (default
         * off), under {@value #DEFAULT_JMX_NAME} unless {@link #jmxName} gives
         * another name. A name another MBean holds is not taken over: the
         * server runs without and logs a warning.
         *
         * @param registerMBean whether to register it
         * @return this builder
         */
        public Builder registerMBean(boolean registerMBean) {
            this.registerMBean = registerMBean;
            return this;
        }

        /**
         * The JMX name of the statistics (default {@value #DEFAULT_JMX_NAME}),
         * the same at every start, so that monitoring rules can name it; give
         * each server of one JVM its own, for example
         * {@code dev.adder:type=AdderServer,name=orders}. Registration itself
         * is {@link #registerMBean}'s.
         *
         * @param jmxName a JMX object name, such as {@code dev.adder:type=AdderServer,name=orders}
         * @return this builder
         * @throws IllegalArgumentException if it is not a valid object name, or a pattern
         */
        public Builder jmxName(String jmxName) {
            Objects.requireNonNull(jmxName, "jmxName");
            try {
                ObjectName name = new ObjectName(jmxName);
                if (name.isPattern()) {
                    throw new IllegalArgumentException("jmxName must name one MBean, not a pattern: " + jmxName);
                }
                this.jmxName = name;
            } catch (MalformedObjectNameException e) {
                throw new IllegalArgumentException("jmxName is not a JMX object name (domain:key=value,...): "
                        + jmxName + " (" + e.getMessage() + ")", e);
            }
            return this;
        }

        /**
         * How many event loops serve (default 1: one thread serves every
         * connection). With more, each loop is a thread of its own with its
         * own selector and connections, sharing nothing per request; the first
         * also accepts, and hands each new connection to the loop with the
         * fewest. The limits hold for the server as a whole: the connection
         * limit counts every loop's connections, and the budget of held
         * answers is shared out evenly among the loops.
         *
         * @param loops from 1 to {@value #MAX_LOOPS}
         * @return this builder
         */
        public Builder loops(int loops) {
            if (loops < 1 || loops > MAX_LOOPS) {
                throw new IllegalArgumentException("loops must be from 1 to " + MAX_LOOPS + ", not " + loops);
            }
            this.loops = loops;
            return this;
        }

        /**
         * Name of the event loop thread (default {@code adder-loop}; with
         * several loops, {@code adder-loop-0}, {@code adder-loop-1}, ...).
         *
         * @param threadName the name
         * @return this builder
         */
        public Builder threadName(String threadName) {
            this.threadName = Objects.requireNonNull(threadName, "threadName");
            return this;
        }

        /**
         * A server with these settings, not yet started.
         *
         * @return the server, not yet started
         */
        public AdderServer build() {
            if (listen.isEmpty()) {
                throw new IllegalStateException("no listen address: call listen(\"unix:PATH\") or listen(\"tcp:HOST:PORT\")");
            }
            return new AdderServer(new ServerConfig(List.copyOf(listen), maxConnections, maxPendingOutput,
                    maxPendingOutputTotal, idleTimeout, drainTimeout, busyPoll, slowTurnWarning, unixSocketPermissions, registerMBean,
                    jmxName == null ? defaultJmxName() : jmxName, threadName, loops));
        }

        private static ObjectName defaultJmxName() {
            try {
                return new ObjectName(DEFAULT_JMX_NAME);
            } catch (MalformedObjectNameException e) {
                throw new AssertionError(e);
            }
        }

        /** Zero, or from {@code min} to {@code max}. */
        private static Duration inRange(String name, Duration duration, Duration min, Duration max) {
            Objects.requireNonNull(duration, name);
            if (!duration.isZero() && (duration.compareTo(min) < 0 || duration.compareTo(max) > 0)) {
                String range = min.isZero() ? "from 0 to " + HumanDuration.format(max)
                        : "0 or from " + HumanDuration.format(min) + " to " + HumanDuration.format(max);
                throw new IllegalArgumentException(name + " must be " + range + ", not " + HumanDuration.describe(duration));
            }
            return duration;
        }
    }
}
