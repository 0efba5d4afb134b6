package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.core.HumanDuration;
import java.io.IOException;
import javax.net.ssl.SSLContext;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
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
 *
 * <p>Who may connect over a Unix-domain socket: the socket file's mode
 * ({@link Builder#unixSocketPermissions}), and, once
 * {@link Builder#allowUsers(String...)} or {@link Builder#allowGroups(String...)}
 * is set, the kernel's peer credentials ({@code SO_PEERCRED}): a connection is
 * served only if the effective user id of the process that connected is an
 * allowed user, or its effective group id (its primary group, unless it
 * changed it) an allowed group, both as they were when it called
 * {@code connect}. Supplementary groups are not part of these credentials,
 * so membership of an allowed group through them alone does not admit. Any
 * other connection is closed as it is accepted, before it is served, counted
 * among the {@link ServerStats#refused() refused}, and named (its user and
 * group) in a warning, at most one line every five seconds; a connection
 * whose credentials cannot be read is closed the same way. TCP connections
 * are not checked: each TCP listener gets a warning at start, and a server
 * with allowed users or groups and no Unix-domain listener is refused by
 * {@link Builder#build()}; authenticate TCP clients with TLS client
 * certificates.
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
    /** Default {@link Builder#maxHandshakes}: TLS handshakes in progress at once. */
    public static final int DEFAULT_MAX_HANDSHAKES = 64;
    /** Largest {@link Builder#maxHandshakes}. */
    public static final int MAX_MAX_HANDSHAKES = 100_000;
    /** Default {@link Builder#handshakeTimeout}. */
    public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
    /** Shortest {@link Builder#handshakeTimeout}. */
    public static final Duration MIN_HANDSHAKE_TIMEOUT = Duration.ofMillis(10);
    /** Longest {@link Builder#handshakeTimeout}. */
    public static final Duration MAX_HANDSHAKE_TIMEOUT = Duration.ofMinutes(10);

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
    /** The loops; null before {@link #start()}. */
    private LoopGroup group;
    private ObjectName mbeanName;
    private boolean closed;

    AdderServer(ServerConfig config) {
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
            if (group != null || closed) {
                throw new IllegalStateException(closed ? "server is closed" : "server is already started");
            }
            group = new LoopGroup(config);
            group.start();
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
        LoopGroup stopping;
        boolean first;
        synchronized (lifecycle) {
            first = !closed;
            if (first) {
                closed = true;
                if (mbeanName != null) {
                    JmxStatistics.unregister(mbeanName);
                    mbeanName = null;
                }
            }
            stopping = group;
        }
        if (stopping != null) {
            stopping.stop(); // every caller waits: a second close() returns when the loops have ended
            if (first) {
                log.info("adder server stopped: {}", stats().summary());
            }
        }
    }

    /**
     * Reads the TLS keys again from the files the builder named; handshakes that begin after it
     * returns use them, connections already made go on as they are. If the new files cannot be
     * used (missing, broken, a key that is not the certificate's), the keys in use stay, and the
     * exception says why in one line.
     *
     * @throws IOException naming the file at fault; the keys in use stay
     * @throws IllegalStateException if the server is not running, has no TLS listener, or was given an {@code SSLContext}
     */
    public void reloadTls() throws IOException {
        runningTls().reload();
    }

    /**
     * Replaces the TLS context: handshakes that begin after it returns use {@code context},
     * connections already made go on as they are.
     *
     * @param context an initialized context
     * @throws IllegalStateException if the server is not running or has no TLS listener
     */
    public void reloadTls(SSLContext context) {
        runningTls().replace(Objects.requireNonNull(context, "context"));
    }

    private ServerTls runningTls() {
        LoopGroup current = currentGroup();
        if (current == null || !current.isRunning()) {
            throw new IllegalStateException("the server is not running");
        }
        if (current.tls() == null) {
            throw new IllegalStateException("the server has no tls: listener");
        }
        return current.tls();
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
        LoopGroup current = currentGroup();
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
        LoopGroup current = currentGroup();
        return current != null && current.isRunning();
    }

    /**
     * The error that ended an event loop, if one failed rather than being
     * closed (a failing loop stops the others).
     *
     * @return the error, or empty if no loop has failed
     */
    public Optional<Throwable> failure() {
        LoopGroup current = currentGroup();
        return current == null ? Optional.empty() : Optional.ofNullable(current.failure());
    }

    /**
     * The server's counters now, summed over its loops (the loop figures:
     * {@code busyNanos} summed, {@code busyShare} the loops' mean,
     * {@code longestTurnNanos} the longest). All zero before {@link #start()}.
     *
     * @return a snapshot of the counters
     */
    public ServerStats stats() {
        LoopGroup current = currentGroup();
        return current == null ? ServerStats.NONE : current.stats();
    }

    /** The accepting loop, for tests in this package; null before {@link #start()}. */
    EventLoop currentLoop() {
        List<EventLoop> current = currentLoops();
        return current.isEmpty() ? null : current.get(0);
    }

    /** Every loop, the accepting one first; empty before {@link #start()}. */
    List<EventLoop> currentLoops() {
        LoopGroup current = currentGroup();
        return current == null ? List.of() : current.loops();
    }

    private LoopGroup currentGroup() {
        synchronized (lifecycle) {
            return group;
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

    /**
     * Registers the statistics as a JMX MBean now, under the builder's
     * {@link Builder#jmxName}, if they are not registered already: for a
     * server that is to appear in JMX only later, such as the daemon, which
     * registers once a JMX agent has made the platform MBean server (a JVM
     * that nobody watches is spared making it, a few megabytes). Unregistered
     * by {@link #close()}, as with {@link Builder#registerMBean}. A name
     * another MBean holds is not taken over: a warning is logged.
     *
     * @return the name registered under, or empty if the name is taken or the
     *         server has been closed
     * @throws IllegalStateException if the server has not been started
     */
    public Optional<ObjectName> registerMBean() {
        synchronized (lifecycle) {
            if (group == null && !closed) {
                throw new IllegalStateException("server is not started");
            }
            if (mbeanName == null && !closed) {
                mbeanName = JmxStatistics.register(this, config.jmxName());
            }
            return Optional.ofNullable(mbeanName);
        }
    }

    /** Settings of a server; every one has a default but the listen addresses. */
    public static final class Builder extends ServerBuilder {
        // the settings are ServerBuilder's, in a file of their own; javac and javadoc present its
        // public methods as this class's own, so this class is the whole of the public API
        private Builder() {
        }

        @Override
        Builder self() {
            return this;
        }
    }
}
