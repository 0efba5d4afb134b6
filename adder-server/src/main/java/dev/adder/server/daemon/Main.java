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
import java.util.function.IntConsumer;
import java.util.stream.Collectors;
import javax.management.MBeanServerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The adder daemon: {@code java -jar adder-server-all.jar [OPTION]...}.
 * Serves until SIGTERM or SIGINT, then stops gracefully and exits 0. A
 * launcher that runs it under a name of its own says so in the system
 * property {@code adder.program} (the distribution's: {@code adder-server}),
 * and the help's usage line names that.
 *
 * <p>The graceful stop runs in a shutdown hook, which ends the process with
 * {@link Runtime#halt} and the daemon's own status: the JVM would otherwise
 * report a signal's death (143 for SIGTERM) although the stop was clean.
 * The hook is the first thing {@link #main} does, before logging, options
 * or the server exist, and stops whatever part of the start has happened:
 * from the moment this class runs, a signal means exit 0 and nothing left
 * behind. (Before it, while the JVM itself boots, the JVM's default holds:
 * the process ends by the signal, or with 143, having created nothing.)
 * Nothing here is static but that {@code main}, so that loading this class
 * starts nothing, logging included.
 */
public final class Main {

    private static final long STATS_INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);

    private final CountDownLatch stopRequested = new CountDownLatch(1);
    private final IntConsumer halt;
    private volatile int exitStatus;
    private volatile MetricsEndpoint metrics;
    /** Set once the hook has begun to stop: no server is started after it. Guarded by {@code this}. */
    private boolean stopping;
    /** The server being started or serving, once built. Guarded by {@code this}. */
    private AdderServer server;
    /** Set once the server serves, and whether it has a tls: listener. Guarded by {@code this}. */
    private boolean serving;
    private boolean tls;
    /** A SIGHUP came before the server served: its files are read again once it does. Guarded by {@code this}. */
    private boolean hangupPending;
    /** Set once the daemon's logging is set up: a SIGHUP before it logs nothing. */
    private volatile boolean logging;
    /** The statistics are to be registered in JMX once an agent runs (registerWhenWatched); the main thread's. */
    private boolean jmxPending;

    Main() {
        this(new Halt());
    }

    /** {@link Runtime#halt}: a class, not a lambda, for the reason in {@link #main}. */
    private static final class Halt implements IntConsumer {
        @Override
        public void accept(int status) {
            Runtime.getRuntime().halt(status);
        }
    }

    /** @param halt ends the process with a status; tests pass one that records it */
    Main(IntConsumer halt) {
        this.halt = halt;
    }

    public static void main(String[] args) {
        DaemonLogging.nameProviderUnlessGiven(); // before anything logs
        Main daemon = new Main();
        // a class, not a lambda or method reference: the first lambda bootstraps the JVM's lambda machinery
        // (some 60 classes, 10 to 30 ms), during which a signal would still end the process with 143
        Runtime.getRuntime().addShutdownHook(new Thread("adder-stop") {
            @Override
            public void run() {
                daemon.stop();
            }
        });
        // as early as the stop hook: from here on a SIGHUP never stops the daemon, whatever the moment
        ReloadOnHangup.install(daemon::hangUp, System.err);
        int status = daemon.run(args, System.out, System.err);
        daemon.exitStatus = status;
        System.exit(status); // runs the hook, which stops what is left and halts with this status
    }

    private static Logger log() {
        return LoggerFactory.getLogger(Main.class);
    }

    /**
     * Runs the daemon until it is stopped, or fails; returns its exit status.
     * Signals are {@link #main}'s business: a test calls this directly, and
     * calls {@link #stop} for a signal.
     */
    int run(String[] args, PrintStream out, PrintStream err) {
        DaemonLogging.configureUnlessGiven();
        logging = true;
        DaemonOptions options;
        try {
            options = DaemonOptions.parse(args);
        } catch (DaemonOptions.UsageException e) {
            err.println("adder-server: " + e.getMessage() + " (try --help)");
            return 2;
        }
        if (options.help) {
            out.println("Usage: " + System.getProperty("adder.program", "java -jar adder-server-all.jar") + " [OPTION]..."
                    + System.lineSeparator() + DaemonOptions.HELP);
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
                .registerMBean(false) // on demand: see registerWhenWatched
                .jmxName(options.jmxName)
                .maxHandshakes(options.maxHandshakes)
                .handshakeTimeout(options.handshakeTimeout);
        if (options.tlsKeyStore != null) {
            builder.tlsKeyStore(options.tlsKeyStore, options.tlsKeyStorePassword);
        } else if (options.tlsCert != null) {
            builder.tls(options.tlsCert, options.tlsKey);
        }
        if (options.tlsClientCa != null) {
            builder.tlsClientCa(options.tlsClientCa);
        }
        options.listen.forEach(builder::listen);
        if (!options.allowUsers.isEmpty()) {
            builder.allowUsers(options.allowUsers);
        }
        if (!options.allowGroups.isEmpty()) {
            builder.allowGroups(options.allowGroups);
        }
        AdderServer server = builder.build();
        synchronized (this) {
            if (stopping) {
                return 0; // a signal came first: the hook is ending the process
            }
            // from here a signal stops this server: close() waits for a start under way, so nothing
            // its start creates is left behind
            this.server = server;
        }
        try {
            server.start();
        } catch (IOException e) {
            err.println("adder-server: " + e.getMessage());
            exitStatus = 1; // also the status if a signal ends the process before main returns
            return 1;
        } catch (IllegalStateException closedBySignal) {
            return 0; // the hook is stopping the daemon
        }
        if (stopRequested.getCount() == 0) {
            return 0; // the hook stopped it as it started
        }
        if (options.metrics != null) {
            try {
                MetricsEndpoint started = MetricsEndpoint.start(options.metrics, server);
                synchronized (this) {
                    if (stopping) {
                        started.close();
                        return 0;
                    }
                    metrics = started;
                }
            } catch (IOException | RuntimeException e) {
                err.println("adder-server: cannot serve metrics on " + options.metrics + ": " + e.getMessage());
                exitStatus = 1;
                return 1;
            } catch (LinkageError e) { // the Prometheus client's jars missing from the run
                err.println("adder-server: cannot serve metrics on " + options.metrics + ": a class they need is missing ("
                        + e + "); the daemon jar and the distribution carry them");
                exitStatus = 1;
                return 1;
            }
        }
        boolean reloadNow;
        synchronized (this) {
            serving = true;
            tls = options.listen.stream().anyMatch(AdderAddress::isTls);
            reloadNow = tls && hangupPending;
        }
        if (reloadNow) {
            ReloadOnHangup.reload(server); // the files may have changed after the start read them
        }
        jmxPending = options.jmx;
        registerWhenWatched(server); // an agent started from the command line (-Dcom.sun.management.jmxremote) is there now
        log().info("adder {} listening on {}; {}{}max connections {}, idle timeout {}, max pending output {} bytes"
                        + " ({} in total), drain timeout {}, busy poll {}; {}; {}; pid {}, Java {}",
                AdderVersion.current(), server.addresses().stream().map(Main::absolute)
                        .collect(Collectors.joining(", ")),
                socketMode(server.addresses()), options.loops == 1 ? "" : options.loops + " loops, ",
                options.maxConnections, options.idleTimeout.isZero() ? "off" : HumanDuration.format(options.idleTimeout),
                options.maxPendingOutput, options.maxPendingOutputTotal, HumanDuration.format(options.drainTimeout),
                HumanDuration.format(options.busyPoll),
                !options.jmx ? "JMX off" : server.jmxName().map(name -> "JMX " + name)
                        .orElse(jmxPending ? "JMX " + options.jmxName + " once an agent attaches" : "JMX not registered (see above)"),
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

    /**
     * An address as the start line names it, a Unix socket's path made
     * absolute: where an operator finds the file. Text, not an address: the
     * absolute path of a relative one may be longer than an address may be.
     */
    private static String absolute(AdderAddress address) {
        return address.isUnix() ? "unix:" + address.unixPath().toAbsolutePath() : address.toString();
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

    /**
     * In the shutdown hook: stops gracefully whatever has started so far,
     * logs the totals if a server started, ends the process with the
     * daemon's status.
     */
    void stop() {
        AdderServer built;
        MetricsEndpoint endpoint;
        synchronized (this) {
            stopping = true;
            built = server;
            endpoint = metrics;
        }
        stopRequested.countDown();
        if (built != null) {
            // waits for a start under way; empty if it failed: then there is nothing to stop or to report
            boolean served = !built.addresses().isEmpty();
            if (served) {
                log().info("stopping: answering what was received, for at most {}",
                        HumanDuration.format(built.drainTimeout()));
            }
            built.close();
            if (endpoint != null) {
                endpoint.close();
            }
            if (served) {
                log().info("adder stopped: {}", built.stats().summary());
            }
        }
        halt.accept(exitStatus);
    }

    /**
     * SIGHUP, from {@code main}'s handler: with a serving server's tls:
     * listeners, reads their files again; before it serves, the reload waits
     * for the start's end; without tls: listeners, or once stopping, it is
     * logged and does nothing. It never stops the daemon.
     */
    void hangUp() {
        AdderServer reloaded;
        synchronized (this) {
            if (stopping) {
                return;
            }
            if (!serving) {
                hangupPending = true;
                if (logging) {
                    log().info("SIGHUP during the start: the TLS files, if any, are read again once it serves");
                }
                return;
            }
            reloaded = tls ? server : null;
        }
        if (reloaded == null) {
            log().info("SIGHUP ignored: no tls: listener, nothing to reload");
        } else {
            ReloadOnHangup.reload(reloaded);
        }
    }

    /**
     * Registers the statistics MBean once something has made an MBean server
     * in this JVM: a JMX agent, started by the command line's
     * {@code -Dcom.sun.management.jmxremote} or on attach ({@code jconsole
     * PID}, {@code jcmd PID ManagementAgent.start_local}). Asking makes no
     * server; making the platform one, which registering would do, costs
     * about 4 MB of memory that a daemon nobody watches does without. Tried
     * once: a name already taken is warned about once.
     *
     * @return whether it registered now
     */
    private boolean registerWhenWatched(AdderServer server) {
        if (!jmxPending || MBeanServerFactory.findMBeanServer(null).isEmpty()) {
            return false;
        }
        jmxPending = false;
        return server.registerMBean().isPresent();
    }

    /** Waits for a stop signal, logging statistics at most once a minute when they change. */
    private boolean serveUntilStopped(AdderServer server) {
        ServerStats logged = server.stats();
        long nextStatsLog = System.nanoTime() + STATS_INTERVAL_NANOS;
        try {
            while (!stopRequested.await(1, TimeUnit.SECONDS)) {
                if (!server.isRunning()) {
                    log().error("the event loop failed ({}); exiting",
                            server.failure().map(Throwable::toString).orElse("no error recorded"));
                    return true;
                }
                if (registerWhenWatched(server)) {
                    log().info("statistics registered in JMX as {} (a JMX agent started)", server.jmxName().orElseThrow());
                }
                if (System.nanoTime() - nextStatsLog >= 0) {
                    nextStatsLog = System.nanoTime() + STATS_INTERVAL_NANOS;
                    ServerStats now = server.stats();
                    if (!now.equals(logged)) {
                        logged = now;
                        log().info("{} connections open, {} accepted, {} refused, {} requests answered",
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
