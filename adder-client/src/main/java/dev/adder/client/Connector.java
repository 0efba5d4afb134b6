package dev.adder.client;

import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;

/**
 * Opens a client's sockets, without blocking, and says what a failed
 * connect means: a server busy (a Unix-domain listener whose accept queue
 * is full fails at once with {@code EAGAIN}, where TCP would wait), a
 * server down (refused, or no socket file: it may be restarting), or a
 * failure no wait mends (an unknown host, a file this user may not use);
 * and when to try again: after pauses from 0.1 ms doubling to 100 ms, for
 * up to the connect timeout in a row. The driver's every wait for it ends at
 * the nearest deadline of the calls it drives for. Driver thread only.
 */
final class Connector {

    static final long FIRST_PAUSE_NANOS = TimeUnit.MICROSECONDS.toNanos(100);
    static final long LONGEST_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    private final AdderAddress address;
    private final SocketAddress socketAddress;
    final long timeoutNanos;
    /** Connects failing one after another (busy or down) since this time; 0 when the last one worked. */
    private long failingSince;
    private long pauseNanos;
    private String lastFailure = "";

    Connector(AdderAddress address, long timeoutNanos) {
        this.address = address;
        this.socketAddress = address.toSocketAddress();
        this.timeoutNanos = timeoutNanos;
    }

    /** A connect worked: the next failure begins a new run. */
    void connected() {
        failingSince = 0;
        pauseNanos = 0;
    }

    /**
     * A connect failed with {@code e} at {@code now}: returns when to try
     * again, or throws what the calls waiting for a connection fail with: a
     * failure no wait mends, a server down if {@code downIsFinal}, or any
     * failure once they have run for the connect timeout.
     */
    long retryAt(IOException e, long now, boolean downIsFinal) {
        boolean unix = address.isUnix();
        // looked at once: a server starting may create the file between two looks
        boolean noFile = unix && !Files.exists(address.unixPath(), LinkOption.NOFOLLOW_LINKS);
        boolean refused = !noFile && e instanceof ConnectException;
        boolean busy = !noFile && !refused && e instanceof SocketException && unix && Files.isWritable(address.unixPath());
        boolean down = noFile || refused || e instanceof SocketException && !unix; // TCP: reset during the handshake, say
        // TLS (the server's certificate, or the server refusing ours) is neither busy nor down: final
        boolean tls = !noFile && !refused && e instanceof SSLException;
        AdderException failure = new AdderException("cannot connect to " + address + ": " + (noFile
                ? "no socket file at " + address.unixPath() + " (is the server running?)"
                : refused ? "connection refused (is the server running?)"
                : tls ? "TLS handshake failed: " + rootMessage(e) : reason(e)), e).as(FailureKind.CONNECT);
        if (!busy && (!down || downIsFinal)) {
            throw failure;
        }
        if (failingSince == 0 || now - failingSince - timeoutNanos - LONGEST_PAUSE_NANOS > 0) {
            failingSince = now; // a new run of failures (an old one ended when nobody waited any more)
            pauseNanos = 0;
        }
        if (now - failingSince >= timeoutNanos) {
            failingSince = 0;
            throw busy ? timedOut(true) : failure;
        }
        lastFailure = failure.getMessage();
        pauseNanos = pauseNanos == 0 ? FIRST_PAUSE_NANOS : Math.min(LONGEST_PAUSE_NANOS, pauseNanos * 2);
        long end = failingSince + timeoutNanos;
        return end - (now + pauseNanos) < 0 ? end : now + pauseNanos;
    }

    /** The message of the last failure {@link #retryAt} will try again after. */
    String lastFailure() {
        return lastFailure;
    }

    /** A new channel, non-blocking, its connect begun; throws what {@link #retryAt} tells the meaning of. */
    SocketChannel open() throws IOException {
        if (socketAddress instanceof InetSocketAddress inet && inet.isUnresolved()) {
            throw new UnknownHostException("unknown host '" + inet.getHostString() + "'");
        }
        SocketChannel channel = socketAddress instanceof UnixDomainSocketAddress
                ? SocketChannel.open(StandardProtocolFamily.UNIX)
                : SocketChannel.open();
        try {
            channel.configureBlocking(false);
            channel.connect(socketAddress);
            return channel;
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** The innermost cause's message: the JDK wraps a certificate's fault in two or three layers. */
    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return (root.getMessage() == null ? root.toString() : root.getMessage()).replaceAll("\\s+", " ");
    }

    /** What a connect that stayed unfinished, or a busy server that stayed busy, until the connect timeout fails with. */
    AdderTimeoutException timedOut(boolean busy) {
        return new AdderTimeoutException("timed out connecting to " + address + (busy
                ? ": the server's queue of connections to accept stayed full for " + timeoutNanos / 1_000_000 + " ms"
                : ""));
    }

    static String reason(IOException e) {
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }
}
