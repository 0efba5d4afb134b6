package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.core.HumanDuration;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;

/**
 * The body of {@link AdderServer.Builder}, whose public methods these are:
 * every setting of a server, its default, and its range, checked as it is
 * set. Package-private, so that the public API is that one class; each
 * setter returns it.
 */
abstract class ServerBuilder extends AccessBuilder {
    private final List<AdderAddress> listen = new ArrayList<>();
    private int maxConnections = AdderServer.DEFAULT_MAX_CONNECTIONS;
    private int maxPendingOutput = AdderServer.DEFAULT_MAX_PENDING_OUTPUT;
    private long maxPendingOutputTotal = AdderServer.defaultMaxPendingOutputTotal();
    private Duration idleTimeout = AdderServer.DEFAULT_IDLE_TIMEOUT;
    private Duration drainTimeout = AdderServer.DEFAULT_DRAIN_TIMEOUT;
    private Duration slowTurnWarning = AdderServer.DEFAULT_SLOW_TURN_WARNING;
    private Duration busyPoll = AdderServer.DEFAULT_BUSY_POLL;
    private Set<PosixFilePermission> unixSocketPermissions;
    private boolean registerMBean;
    private ObjectName jmxName;
    private String threadName = "adder-loop";
    private int loops = 1;

    ServerBuilder() {
    }

    /**
     * Adds an address to listen on: {@code unix:PATH}, {@code tcp:HOST:PORT}, {@code HOST:PORT} or
     * {@code tls:HOST:PORT} (which needs keys: {@link AdderServer.Builder#tls(Path, Path)}).
     *
     * @param address the address as written
     * @return this builder
     */
    public AdderServer.Builder listen(String address) {
        return listen(AdderAddress.parse(address));
    }

    /**
     * Adds an address to listen on; TCP port 0 picks a free port.
     *
     * @param address the address
     * @return this builder
     */
    public AdderServer.Builder listen(AdderAddress address) {
        listen.add(Objects.requireNonNull(address, "address"));
        return self();
    }

    /**
     * Most connections open at once (default 10,000).
     * A connection past it is accepted and closed at once, and counted as refused.
     *
     * @param maxConnections from 1 to 1,000,000
     * @return this builder
     */
    public AdderServer.Builder maxConnections(int maxConnections) {
        if (maxConnections < 1 || maxConnections > AdderServer.MAX_MAX_CONNECTIONS) {
            throw new IllegalArgumentException("maxConnections must be from 1 to " + AdderServer.MAX_MAX_CONNECTIONS
                    + ", not " + maxConnections);
        }
        this.maxConnections = maxConnections;
        return self();
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
    public AdderServer.Builder maxPendingOutput(int bytes) {
        if (bytes < AdderServer.MIN_MAX_PENDING_OUTPUT || bytes > AdderServer.MAX_MAX_PENDING_OUTPUT) {
            throw new IllegalArgumentException("maxPendingOutput must be from " + AdderServer.MIN_MAX_PENDING_OUTPUT
                    + " bytes to " + AdderServer.MAX_MAX_PENDING_OUTPUT + " bytes, not " + bytes);
        }
        this.maxPendingOutput = bytes;
        return self();
    }

    /**
     * Bytes of answers all connections together may have waiting for their
     * clients (default: {@link AdderServer#defaultMaxPendingOutputTotal()}, a quarter
     * of the maximum heap; from 64 KiB to 1 TiB). Past it, the server
     * stops reading every connection that holds answers until the total
     * has drained to half of it; clients that read their answers hold none
     * and are still served. So clients that never read cannot exhaust the
     * heap, however many connect.
     *
     * @param bytes from 64 KiB to 1 TiB
     * @return this builder
     */
    public AdderServer.Builder maxPendingOutputTotal(long bytes) {
        if (bytes < AdderServer.MIN_MAX_PENDING_OUTPUT_TOTAL || bytes > AdderServer.MAX_MAX_PENDING_OUTPUT_TOTAL) {
            throw new IllegalArgumentException("maxPendingOutputTotal must be from "
                    + AdderServer.MIN_MAX_PENDING_OUTPUT_TOTAL + " bytes to " + AdderServer.MAX_MAX_PENDING_OUTPUT_TOTAL + " bytes, not " + bytes);
        }
        this.maxPendingOutputTotal = bytes;
        return self();
    }

    /**
     * Closes a connection with no traffic for this long; zero (the default)
     * means never. Otherwise from 1 ms to 30 days.
     *
     * @param idleTimeout zero, or from 1 ms to 30 days
     * @return this builder
     */
    public AdderServer.Builder idleTimeout(Duration idleTimeout) {
        this.idleTimeout = inRange("idleTimeout", idleTimeout, AdderServer.MIN_IDLE_TIMEOUT, AdderServer.MAX_IDLE_TIMEOUT);
        return self();
    }

    /**
     * Longest time {@link AdderServer#close()} waits for answers to drain (default 5 s, at most 1 hour).
     *
     * @param drainTimeout from zero to 1 hour
     * @return this builder
     */
    public AdderServer.Builder drainTimeout(Duration drainTimeout) {
        this.drainTimeout = inRange("drainTimeout", drainTimeout, Duration.ZERO, AdderServer.MAX_DRAIN_TIMEOUT);
        return self();
    }

    /**
     * The busy-poll window (default 25 µs; zero: never poll, always sleep
     * in {@code select}). After a turn that found work the loop may poll
     * without sleeping for up to this long: when work comes within it, the
     * loop saves the thread's sleep and wake-up, which cost more latency
     * and CPU than the polls. Whether it polls is learnt from its recent
     * turns: it keeps an account of the time its polls burn against the
     * wake-ups they save (5 µs each) and polls while it is in credit, so
     * that for any arrival pattern the time polled for nothing is at most
     * the wake-ups saved times 5 µs plus one window per 256 turns with work.
     * Traffic whose polls find work 60 times in 64 is a closed loop (a
     * client that sends its next request on its last answer): there polls
     * buy round trips, and the loop polls after every turn while answers
     * later than the window stay rarer than one in 8 and pauses than one in
     * 64. An idle server uses no CPU. The window is also the longest gap worth
     * spinning through: 25 µs catches a client answering back at once
     * (about 10 µs here), not requests paced 50 µs apart. At most 1 ms.
     *
     * @param busyPoll from zero to 1 ms
     * @return this builder
     */
    public AdderServer.Builder busyPoll(Duration busyPoll) {
        this.busyPoll = inRange("busyPoll", busyPoll, Duration.ZERO, AdderServer.MAX_BUSY_POLL);
        return self();
    }

    /**
     * A loop turn (its work between two waits) at least this long logs a
     * warning, at most one line every five seconds (default 100 ms; zero:
     * never). Such a turn is a GC pause or a slow task, and every
     * connection of the loop waited through it. {@link AdderServer#stats()} gives
     * the longest recent turn whatever this setting.
     *
     * @param slowTurnWarning zero, or from 1 ms to 1 hour
     * @return this builder
     */
    public AdderServer.Builder slowTurnWarning(Duration slowTurnWarning) {
        this.slowTurnWarning = inRange("slowTurnWarning", slowTurnWarning, AdderServer.MIN_SLOW_TURN_WARNING,
                AdderServer.MAX_SLOW_TURN_WARNING);
        return self();
    }

    /**
     * Permissions of the Unix socket files, applied before any client can
     * connect (for example {@code PosixFilePermissions.fromString("rw-------")}).
     * By default the process's umask decides.
     *
     * @param permissions the permissions, or null for the umask
     * @return this builder
     */
    public AdderServer.Builder unixSocketPermissions(Set<PosixFilePermission> permissions) {
        this.unixSocketPermissions = permissions == null ? null : EnumSet.copyOf(permissions);
        return self();
    }

    /**
     * Registers the statistics as a JMX MBean while the server runs (default
     * off), under {@value AdderServer#DEFAULT_JMX_NAME} unless {@link AdderServer.Builder#jmxName} gives
     * another name. A name another MBean holds is not taken over: the
     * server runs without and logs a warning.
     *
     * @param registerMBean whether to register it
     * @return this builder
     */
    public AdderServer.Builder registerMBean(boolean registerMBean) {
        this.registerMBean = registerMBean;
        return self();
    }

    /**
     * The JMX name of the statistics (default {@value AdderServer#DEFAULT_JMX_NAME}),
     * the same at every start, so that monitoring rules can name it; give
     * each server of one JVM its own, for example
     * {@code dev.adder:type=AdderServer,name=orders}. Registration itself
     * is {@link AdderServer.Builder#registerMBean}'s.
     *
     * @param jmxName a JMX object name, such as {@code dev.adder:type=AdderServer,name=orders}
     * @return this builder
     * @throws IllegalArgumentException if it is not a valid object name, or a pattern
     */
    public AdderServer.Builder jmxName(String jmxName) {
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
        return self();
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
     * @param loops from 1 to {@value AdderServer#MAX_LOOPS}
     * @return this builder
     */
    public AdderServer.Builder loops(int loops) {
        if (loops < 1 || loops > AdderServer.MAX_LOOPS) {
            throw new IllegalArgumentException("loops must be from 1 to " + AdderServer.MAX_LOOPS + ", not " + loops);
        }
        this.loops = loops;
        return self();
    }

    /**
     * Name of the event loop thread (default {@code adder-loop}; with
     * several loops, {@code adder-loop-0}, {@code adder-loop-1}, ...).
     *
     * @param threadName the name
     * @return this builder
     */
    public AdderServer.Builder threadName(String threadName) {
        this.threadName = Objects.requireNonNull(threadName, "threadName");
        return self();
    }

    /**
     * A server with these settings, not yet started.
     *
     * @return the server, not yet started
     * @throws IllegalStateException if there is no listen address, or allowed
     *         users or groups but no Unix-domain listen address
     */
    public AdderServer build() {
        if (listen.isEmpty()) {
            throw new IllegalStateException("no listen address: call listen(\"unix:PATH\") or listen(\"tcp:HOST:PORT\")");
        }
        TlsSettings tls = tlsSettings();
        if (tls == null && listen.stream().anyMatch(AdderAddress::isTls)) {
            throw new IllegalStateException("a tls: listener needs keys: call tls(certificateChain, privateKey),"
                    + " tlsKeyStore(file, password) or tls(sslContext)");
        }
        return new AdderServer(new ServerConfig(List.copyOf(listen), maxConnections, maxPendingOutput,
                maxPendingOutputTotal, idleTimeout, drainTimeout, busyPoll, slowTurnWarning, unixSocketPermissions, registerMBean,
                jmxName == null ? defaultJmxName() : jmxName, threadName, loops, tls, allowedPeers(listen)));
    }

    private static ObjectName defaultJmxName() {
        try {
            return new ObjectName(AdderServer.DEFAULT_JMX_NAME);
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
