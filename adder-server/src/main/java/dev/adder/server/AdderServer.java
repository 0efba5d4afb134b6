package dev.adder.server;

import dev.adder.core.AdderAddress;
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
import java.util.concurrent.atomic.AtomicInteger;
import javax.management.JMException;
import javax.management.MBeanServer;
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
    private static final AtomicInteger SERVERS = new AtomicInteger();

    /** Default maximum number of open connections. */
    public static final int DEFAULT_MAX_CONNECTIONS = 10_000;
    /** Default pending output per connection, in bytes, past which the connection is not read. */
    public static final int DEFAULT_MAX_PENDING_OUTPUT = 1 << 20;
    /** Default idle timeout: none, connections may stay idle as long as they like. */
    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ZERO;
    /** Default busy-poll window after a turn that found work: see {@link Builder#busyPoll}. */
    public static final Duration DEFAULT_BUSY_POLL = Duration.ofNanos(50_000);
    /** Default time {@link #close()} lets connections flush their answers. */
    public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(5);

    private final ServerConfig config;
    private final Object lifecycle = new Object();
    private EventLoop loop;
    private ObjectName mbeanName;
    private boolean started;
    private boolean closed;

    private AdderServer(ServerConfig config) {
        this.config = config;
    }

    /** A builder for a server; at least one {@code listen} address is required. */
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
            EventLoop newLoop = EventLoop.bind(config);
            started = true;
            loop = newLoop;
            loop.start();
            if (config.registerMBean()) {
                registerMBean();
            }
            log.debug("adder server listening on {}", loop.addresses());
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
        EventLoop stopping;
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            closed = true;
            stopping = loop;
            unregisterMBean();
        }
        if (stopping != null) {
            stopping.stopAndAwait();
        }
    }

    /** The longest time {@link #close()} lets connections flush their answers. */
    public Duration drainTimeout() {
        return config.drainTimeout();
    }

    /**
     * The addresses the server listens on, with the real port where port 0
     * was asked for. Empty before {@link #start()}.
     */
    public List<AdderAddress> addresses() {
        EventLoop current = currentLoop();
        return current == null ? List.of() : current.addresses();
    }

    /** Whether the event loop is running: started, not yet stopped, not failed. */
    public boolean isRunning() {
        EventLoop current = currentLoop();
        return current != null && current.isRunning();
    }

    /** The error that ended the event loop, if it failed rather than being closed. */
    public Optional<Throwable> failure() {
        EventLoop current = currentLoop();
        return current == null ? Optional.empty() : Optional.ofNullable(current.failure());
    }

    /** The server's counters now. All zero before {@link #start()}. */
    public ServerStats stats() {
        EventLoop current = currentLoop();
        return current == null ? new ServerStats(0, 0, 0, 0, 0, 0, 0) : current.stats();
    }

    private EventLoop currentLoop() {
        synchronized (lifecycle) {
            return loop;
        }
    }

    private void registerMBean() {
        try {
            MBeanServer platform = ManagementFactory.getPlatformMBeanServer();
            ObjectName name = new ObjectName("dev.adder:type=AdderServer,name="
                    + ObjectName.quote(SERVERS.incrementAndGet() + " " + loop.addresses()));
            platform.registerMBean(new Statistics(loop), name);
            mbeanName = name;
        } catch (JMException | RuntimeException e) {
            log.warn("could not register the JMX MBean of the adder server: {}", e.toString());
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

    /** The MXBean view of one loop. */
    private static final class Statistics implements AdderServerMXBean {
        private final EventLoop loop;

        Statistics(EventLoop loop) {
            this.loop = loop;
        }

        @Override
        public List<String> getAddresses() {
            return loop.addresses().stream().map(AdderAddress::toString).toList();
        }

        @Override
        public boolean isRunning() {
            return loop.isRunning();
        }

        @Override
        public long getOpenConnections() {
            return loop.stats().openConnections();
        }

        @Override
        public long getAcceptedConnections() {
            return loop.stats().accepted();
        }

        @Override
        public long getRefusedConnections() {
            return loop.stats().refused();
        }

        @Override
        public long getRequests() {
            return loop.stats().requests();
        }

        @Override
        public long getBytesRead() {
            return loop.stats().bytesRead();
        }

        @Override
        public long getBytesWritten() {
            return loop.stats().bytesWritten();
        }

        @Override
        public long getPendingOutputBytes() {
            return loop.stats().pendingOutput();
        }
    }

    /** Settings of a server; every one has a default but the listen addresses. */
    public static final class Builder {
        private final List<AdderAddress> listen = new ArrayList<>();
        private int maxConnections = DEFAULT_MAX_CONNECTIONS;
        private int maxPendingOutput = DEFAULT_MAX_PENDING_OUTPUT;
        private Duration idleTimeout = DEFAULT_IDLE_TIMEOUT;
        private Duration drainTimeout = DEFAULT_DRAIN_TIMEOUT;
        private Duration busyPoll = DEFAULT_BUSY_POLL;
        private Set<PosixFilePermission> unixSocketPermissions;
        private boolean registerMBean;
        private String threadName = "adder-loop";

        private Builder() {
        }

        /** Adds an address to listen on: {@code unix:PATH}, {@code tcp:HOST:PORT} or {@code HOST:PORT}. */
        public Builder listen(String address) {
            return listen(AdderAddress.parse(address));
        }

        /** Adds an address to listen on; TCP port 0 picks a free port. */
        public Builder listen(AdderAddress address) {
            listen.add(Objects.requireNonNull(address, "address"));
            return this;
        }

        /**
         * Most connections open at once (default 10,000).
         * A connection past it is accepted and closed at once, and counted as refused.
         */
        public Builder maxConnections(int maxConnections) {
            if (maxConnections < 1) {
                throw new IllegalArgumentException("maxConnections must be at least 1, not " + maxConnections);
            }
            this.maxConnections = maxConnections;
            return this;
        }

        /**
         * Bytes of answers a connection may have waiting for its client to read
         * before the server stops reading its requests (default 1 MiB). Reading
         * resumes once half of it has drained.
         */
        public Builder maxPendingOutput(int bytes) {
            if (bytes < 64) {
                throw new IllegalArgumentException("maxPendingOutput must be at least 64 bytes, not " + bytes);
            }
            this.maxPendingOutput = bytes;
            return this;
        }

        /** Closes a connection with no traffic for this long; zero (the default) means never. */
        public Builder idleTimeout(Duration idleTimeout) {
            this.idleTimeout = nonNegative("idleTimeout", idleTimeout);
            return this;
        }

        /** Longest time {@link AdderServer#close()} waits for answers to drain (default 5 s). */
        public Builder drainTimeout(Duration drainTimeout) {
            this.drainTimeout = nonNegative("drainTimeout", drainTimeout);
            return this;
        }

        /**
         * How long the loop keeps polling without sleeping after a turn that
         * found work (default 50 µs; zero: always sleep in {@code select}).
         * While requests keep coming this saves the thread's wake-up, which
         * costs more latency and CPU than the polls do; when traffic stops the
         * loop sleeps after at most this long, so an idle server uses no CPU.
         * The price is up to this much CPU after each burst of sparse traffic.
         */
        public Builder busyPoll(Duration busyPoll) {
            this.busyPoll = nonNegative("busyPoll", busyPoll);
            return this;
        }

        /**
         * Permissions of the Unix socket files, applied before any client can
         * connect (for example {@code PosixFilePermissions.fromString("rw-------")}).
         * By default the process's umask decides.
         */
        public Builder unixSocketPermissions(Set<PosixFilePermission> permissions) {
            this.unixSocketPermissions = permissions == null ? null : EnumSet.copyOf(permissions);
            return this;
        }

        /** Registers the statistics as a JMX MBean while the server runs (default off). */
        public Builder registerMBean(boolean registerMBean) {
            this.registerMBean = registerMBean;
            return this;
        }

        /** Name of the event loop thread (default {@code adder-loop}). */
        public Builder threadName(String threadName) {
            this.threadName = Objects.requireNonNull(threadName, "threadName");
            return this;
        }

        /** A server with these settings, not yet started. */
        public AdderServer build() {
            if (listen.isEmpty()) {
                throw new IllegalStateException("no listen address: call listen(\"unix:PATH\") or listen(\"tcp:HOST:PORT\")");
            }
            return new AdderServer(new ServerConfig(List.copyOf(listen), maxConnections, maxPendingOutput,
                    idleTimeout, drainTimeout, busyPoll, unixSocketPermissions, registerMBean, threadName));
        }

        private static Duration nonNegative(String name, Duration duration) {
            Objects.requireNonNull(duration, name);
            if (duration.isNegative()) {
                throw new IllegalArgumentException(name + " must not be negative, not " + duration);
            }
            return duration;
        }
    }
}
