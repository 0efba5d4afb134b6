package dev.adder.server;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a server's TLS listeners share, over every loop: the context new
 * handshakes use (replaced whole by a reload: handshakes begun go on with
 * the one they began with), the few threads the handshakes' costly steps run
 * on, and the count of handshakes in progress, which the accepting loop
 * keeps within its bound. Any thread.
 */
final class ServerTls {

    private static final Logger log = LoggerFactory.getLogger(ServerTls.class);
    /** TLS 1.3 first; 1.2 for the clients that have nothing newer. */
    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    private final TlsSettings settings;
    private volatile SSLContext context;
    /** The handshakes' delegated tasks: a thread or a few (idle ones end), a queue no longer than the handshakes allowed. */
    final ThreadPoolExecutor tasks;
    /** Handshakes begun and not ended: raised by the accepting loop, lowered by the serving loop as each ends. */
    final AtomicInteger inProgress = new AtomicInteger();
    final int maxHandshakes;
    final long handshakeTimeoutNanos;

    ServerTls(TlsSettings settings) throws IOException {
        this.settings = settings;
        this.context = settings.load();
        this.maxHandshakes = settings.maxHandshakes();
        this.handshakeTimeoutNanos = settings.handshakeTimeout().toNanos();
        int threads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors() - 1));
        AtomicInteger made = new AtomicInteger();
        this.tasks = new ThreadPoolExecutor(threads, threads, 30, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(Math.max(1, maxHandshakes)), task -> {
                    Thread thread = new Thread(task, "adder-tls-" + made.incrementAndGet());
                    thread.setDaemon(true);
                    return thread;
                });
        tasks.allowCoreThreadTimeOut(true);
        // the first engine loads and sets up the JDK's TLS (some 300 ms here): now, not on a loop's first accept
        try {
            newEngine().beginHandshake();
        } catch (SSLException | RuntimeException e) {
            tasks.shutdownNow();
            throw new IOException("cannot begin TLS with these keys: " + e.getMessage(), e);
        }
    }

    /** A server engine for a new connection, from the context as it is now. */
    SSLEngine newEngine() {
        SSLEngine engine = context.createSSLEngine();
        engine.setUseClientMode(false);
        SSLParameters parameters = engine.getSSLParameters();
        parameters.setProtocols(supported(engine.getSupportedProtocols()));
        if (settings.requireClientCertificates() || settings.clientCa() != null) {
            parameters.setNeedClientAuth(true);
        }
        engine.setSSLParameters(parameters);
        return engine;
    }

    private static String[] supported(String[] available) {
        List<String> offered = List.of(available);
        return Arrays.stream(PROTOCOLS).filter(offered::contains).toArray(String[]::new);
    }

    /** Whether the accepting loop may begin another handshake. */
    boolean mayBegin() {
        return inProgress.get() < maxHandshakes;
    }

    /**
     * Reads the files again; new handshakes use what they hold. If they cannot be used, the
     * context in use stays, and the exception says why in one line.
     */
    void reload() throws IOException {
        if (!settings.fromFiles()) {
            throw new IllegalStateException("this server's TLS context was given, not read from files:"
                    + " use reloadTls(SSLContext)");
        }
        context = settings.load();
        log.info("TLS certificates reloaded");
    }

    /** New handshakes use {@code replacement}. */
    void replace(SSLContext replacement) {
        context = replacement;
        log.info("TLS context replaced");
    }

    void close() {
        tasks.shutdownNow();
    }
}
