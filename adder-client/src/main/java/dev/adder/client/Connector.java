package dev.adder.client;

import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;

/**
 * Opens a client's sockets, without blocking, and says what a failed
 * connect means: a server busy (a Unix-domain listener whose accept queue
 * is full fails at once with {@code EAGAIN}, where TCP would wait), a
 * server down (refused, or no socket file: it may be restarting), or a
 * failure no wait mends (an unknown host, a file this user may not use).
 * The driver decides how long to try again; every wait it makes ends at a
 * deadline.
 */
final class Connector {

    /** What a failed connect means for trying again. */
    enum Kind {
        /** The server's accept queue is full: tried again until the connect timeout. */
        BUSY,
        /** Nobody accepts there now: tried again for the connect timeout when replay is on. */
        DOWN,
        /** Not mended by waiting. */
        FINAL
    }

    record Failure(Kind kind, AdderException error) {
    }

    private final AdderAddress address;
    private final SocketAddress socketAddress;

    Connector(AdderAddress address) {
        this.address = address;
        this.socketAddress = address.toSocketAddress();
    }

    /**
     * A new channel, non-blocking, its connect begun.
     *
     * @throws IOException as {@link SocketChannel#connect} does; {@link #classify} tells what it means
     */
    SocketChannel open() throws IOException {
        if (socketAddress instanceof InetSocketAddress inet && inet.isUnresolved()) {
            throw new UnknownHost(inet.getHostString());
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

    private static final class UnknownHost extends IOException {
        private static final long serialVersionUID = 1L;

        UnknownHost(String host) {
            super("unknown host '" + host + "'");
        }
    }

    Failure classify(IOException e) {
        String prefix = "cannot connect to " + address + ": ";
        // looked at once: a server starting may create the file between two looks
        boolean present = !address.isUnix() || Files.exists(address.unixPath(), LinkOption.NOFOLLOW_LINKS);
        if (!present) {
            return new Failure(Kind.DOWN, new AdderException(prefix + "no socket file at " + address.unixPath()
                    + " (is the server running?)", e));
        }
        if (e instanceof ConnectException) {
            return new Failure(Kind.DOWN, new AdderException(prefix + "connection refused (is the server running?)", e));
        }
        String reason = prefix + (e.getMessage() == null ? e.toString() : e.getMessage());
        if (e instanceof SocketException && address.isUnix() && Files.isWritable(address.unixPath())) {
            return new Failure(Kind.BUSY, new AdderException(reason, e));
        }
        if (e instanceof SocketException && !address.isUnix()) {
            return new Failure(Kind.DOWN, new AdderException(reason, e)); // reset during the handshake, say
        }
        return new Failure(Kind.FINAL, new AdderException(reason, e));
    }

    /** What a connect that stayed unfinished, or a busy server that stayed busy, until the connect timeout fails with. */
    AdderTimeoutException timedOut(long timeoutNanos, boolean busy) {
        return new AdderTimeoutException("timed out connecting to " + address + (busy
                ? ": the server's queue of connections to accept stayed full for " + timeoutNanos / 1_000_000 + " ms"
                : ""));
    }
}
