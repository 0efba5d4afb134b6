package dev.adder.server.daemon;

import dev.adder.core.AdderAddress;
import dev.adder.core.AdderVersion;
import dev.adder.core.HumanDuration;
import dev.adder.server.AdderServer;
import dev.adder.server.ServerStats;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The adder daemon: {@code java -jar adder-server-all.jar [OPTION]...}.
 * Serves until SIGTERM or SIGINT, then stops gracefully and exits 0.
 *
 * <p>The graceful stop runs in a shutdown hook, which ends the process with
 * {@link Runtime#halt} and the daemon's own status: the JVM would otherwise
 * report a signal's death (143 for SIGTERM) although the stop was clean.
 */
public final class Main {

    private static final Logger log = LoggerFactory.getLogger(Main.class);
    private static final long STATS_INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);

    private final CountDownLatch stopRequested = new CountDownLatch(1);
    private volatile int exitStatus;
    private volatile MetricsEndpoint metrics;

    Main() {
    }

    public static void main(String[] args) {
        System.exit(new Main().run(args, System.out, System.err));
    }

    int run(String[] args, PrintStream out, PrintStream err) {
        DaemonLogging.configureUnlessGiven();
        DaemonOptions options;
        try {
            options = DaemonOptions.parse(args);
        } catch (DaemonOptions.UsageException e) {
            err.println("adder-server: " + e.getMessage() + " (try --help)");
            return 2;
        }
        if (options.help) {
            out.println(DaemonOptions.USAGE);
            return 0;
        }
        if (options.version) {
            out.println("adder-server " + AdderVersion.current());
            return 0;
        }
        AdderServer.Builder builder = AdderServer.builder()
                .loops(options.loops)
                .maxConnections(options.maxConnections)
                .idleTimeout(options.idleTimeout)
                .maxPendingOutput(options.maxPendingOutput)
                .maxPendingOutputTotal(options.maxPendingOutputTotal)
                .drainTimeout(options.drainTimeout)
                .busyPoll(options.busyPoll)
                .slowTurnWarning(options.slowTurnWarning)
                .unixSocketPermissions(options.socketMode)
                .registerMBean(options.jmx)
                .jmxName(options.jmxName);
        options.listen.forEach(builder::listen);
        AdderServer server = builder.build();
        // Installed before binding: a signal at any moment from here on stops the server and removes what
        // its start created. close() waits for a start under way, so nothing is left half made.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(server), "adder-stop"));
        try {
            server.start();
        } catch (IOException e) {
            err.println("adder-server: " + e.getMessage());
            exitStatus = 1; // main's System.exit runs the hook, which exits with this status
            return 1;
        } catch (IllegalStateException closedBySignal) {
            return 0; // the hook is stopping the daemon
        }
        if (options.metrics != null) {
            try {
                metrics = MetricsEndpoint.start(options.metrics, server);
            } catch (IOException | RuntimeException e) {
                err.println("adder-server: cannot serve metrics on " + options.metrics + ": " + e.getMessage());
                exitStatus = 1;
                return 1;
            } catch (LinkageError e) { // the Prometheus client's jars (or jdk.httpserver) missing from the run
                err.println("adder-server: cannot serve metrics on " + options.metrics + ": a class they need is missing ("
                        + e + "); the daemon jar and the distribution carry them");
                exitStatus = 1;
                return 1;
            }
        }
        log.info("adder {} listening on {}; {}{}max connections {}, idle timeout {}, max pending output {} bytes"
                        + " ({} in total), drain timeout {}, busy poll {}; {}; {}; pid {}, Java {}",
                AdderVersion.current(), server.addresses().stream().map(Main::absolute).map(Object::toString)
                        .collect(Collectors.joining(", ")),
                socketMode(server.addresses()), options.loops == 1 ? "" : options.loops + " loops, ",
                options.maxConnections, options.idleTimeout.isZero() ? "off" : HumanDuration.format(options.idleTimeout),
                options.maxPendingOutput, options.maxPendingOutputTotal, HumanDuration.format(options.drainTimeout),
                HumanDuration.format(options.busyPoll),
                server.jmxName().map(name -> "JMX " + name).orElse(options.jmx ? "JMX not registered (see above)" : "JMX off"),
                metrics == null ? "metrics off" : "metrics http://" + (options.metrics.host().contains(":")
                        ? "[" + options.metrics.host() + "]" : options.metrics.host()) + ":" + metrics.port() + "/metrics",
                ProcessHandle.current().pid(), Runtime.version());
        if (serveUntilStopped(server)) {
            String cause = server.failure().map(Throwable::toString).orElse("no error recorded");
            err.println("adder-server: the event loop failed (" + cause + "); every connection was closed; exiting");
            exitStatus = 1;
            return 1;
        }
        return 0;
    }

    /** A Unix socket address with its path made absolute: where an operator finds the file. */
    private static AdderAddress absolute(AdderAddress address) {
        return address.isUnix() ? AdderAddress.unix(address.unixPath().toAbsolutePath()) : address;
    }

    /** "socket mode 0660; " as the first socket file has it now, or nothing without socket files. */
    private static String socketMode(List<AdderAddress> addresses) {
        for (AdderAddress address : addresses) {
            if (address.isUnix()) {
                try {
                    Set<PosixFilePermission> mode = Files.getPosixFilePermissions(address.unixPath(), LinkOption.NOFOLLOW_LINKS);
                    return "socket mode " + octal(mode) + "; ";
                } catch (IOException | UnsupportedOperationException e) {
                    return "socket mode unknown (" + e.getMessage() + "); ";
                }
            }
        }
        return "";
    }

    /** 0660 for rw-rw----. */
    private static String octal(Set<PosixFilePermission> mode) {
        int bits = 0;
        for (PosixFilePermission permission : mode) {
            bits |= 1 << (8 - permission.ordinal()); // OWNER_READ is ordinal 0, the highest bit of nine
        }
        return String.format("0%03o", bits);
    }

    /** In the shutdown hook: stop gracefully, log the totals, exit with the daemon's status. */
    private void stop(AdderServer server) {
        stopRequested.countDown();
        log.info("stopping: answering what was received, for at most {}", HumanDuration.format(server.drainTimeout()));
        server.close();
        MetricsEndpoint endpoint = metrics;
        if (endpoint != null) {
            endpoint.close();
        }
        ServerStats totals = server.stats();
        log.info("adder stopped: {}", totals.summary());
        Runtime.getRuntime().halt(exitStatus);
    }

    /** Waits for a stop signal, logging statistics at most once a minute when they change. */
    private boolean serveUntilStopped(AdderServer server) {
        ServerStats logged = server.stats();
        long nextStatsLog = System.nanoTime() + STATS_INTERVAL_NANOS;
        try {
            while (!stopRequested.await(1, TimeUnit.SECONDS)) {
                if (!server.isRunning()) {
                    log.error("the event loop failed ({}); exiting",
                            server.failure().map(Throwable::toString).orElse("no error recorded"));
                    return true;
                }
                if (System.nanoTime() - nextStatsLog >= 0) {
                    nextStatsLog = System.nanoTime() + STATS_INTERVAL_NANOS;
                    ServerStats now = server.stats();
                    if (!now.equals(logged)) {
                        logged = now;
                        log.info("{} connections open, {} accepted, {} refused, {} requests answered",
                                now.openConnections(), now.accepted(), now.refused(), now.requests());
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return false;
    }

}
