package dev.adder.server;

import java.io.IOException;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Accepting, on the loop that listens: at most {@value #ACCEPTS_PER_TURN}
 * connections a turn from each ready listener, so that a connect flood does
 * not starve the connections already served; none past the server's
 * connection limit, counted over the whole group (such a connection is
 * closed at once, and counted as refused); none on a TLS listener while the
 * server's handshakes in progress are at their bound (it rests a moment and
 * looks again); a rest after {@code accept()}
 * fails; and each connection handed to the group, which gives it to its
 * least-loaded loop. On a Unix-domain listener, when allowed peers are set,
 * a connection whose peer credentials are not admitted is closed at once
 * too, and counted as refused ({@link PeerCheck}). Once closed it accepts
 * nothing more. Loop thread only.
 */
final class Acceptor {

    private static final Logger log = LoggerFactory.getLogger(Acceptor.class);

    static final int ACCEPTS_PER_TURN = 256;
    /** After accept() fails (out of file descriptors, say), listeners rest this long. */
    static final long ACCEPT_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** A TLS listener at the bound of handshakes in progress rests this long before it looks again. */
    static final long HANDSHAKES_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

    /** An array, not a list: iterating it allocates no iterator. */
    private final Listener[] listeners;
    private final int maxConnections;
    private final EventLoop loop;
    private final LoopGroup group;
    private final Timers timers;
    private final RateLimit refusalWarnings = new RateLimit();
    private final RateLimit failureWarnings = new RateLimit();
    /** Null when every peer the socket file lets in may connect. */
    private final PeerCheck peerCheck;
    private boolean closed;

    /** {@code allowedPeers}: who may connect over a Unix-domain socket; null for anyone. */
    Acceptor(List<Listener> listeners, int maxConnections, EventLoop loop, LoopGroup group, Timers timers,
            AllowedPeers allowedPeers) {
        this.listeners = listeners.toArray(Listener[]::new);
        this.maxConnections = maxConnections;
        this.loop = loop;
        this.group = group;
        this.timers = timers;
        for (Listener listener : this.listeners) {
            listener.acceptor = this;
            listener.resume = timers.create(() -> listener.interest(SelectionKey.OP_ACCEPT));
        }
        this.peerCheck = allowedPeers == null ? null : new PeerCheck(allowedPeers, loop.counters());
        if (allowedPeers != null) {
            for (Listener listener : this.listeners) {
                if (listener.address.isUnix()) {
                    log.info("{} admits only {}, by the peer credentials of each connection", listener.address,
                            allowedPeers);
                } else {
                    log.warn("{} serves any client that reaches it: the allowed users and groups ({}) are checked"
                            + " on Unix-domain listeners only", listener.address, allowedPeers);
                }
            }
        }
    }

    /** The listener is ready: accepts what waits on it, up to the turn's share. */
    void accept(Listener listener) {
        LoopStats stats = loop.counters();
        ServerTls tls = listener.address.isTls() ? group.tls() : null;
        for (int i = 0; i < ACCEPTS_PER_TURN && !closed; i++) {
            if (tls != null && !tls.mayBegin()) {
                rest(listener, HANDSHAKES_BACKOFF_NANOS); // the kernel's queue holds the rest meanwhile
                return;
            }
            SocketChannel socket;
            try {
                socket = listener.channel.accept();
            } catch (IOException e) {
                pause(listener, e);
                return;
            }
            if (socket == null) {
                return;
            }
            if (group.connections() >= maxConnections) {
                stats.refused.add(1);
                new SocketConnectionChannel(socket, false).close();
                if (refusalWarnings.allow(loop.nanoTime())) {
                    log.warn("refusing connections on {}: {} are open, the maximum ({} refused so far)",
                            listener.address, maxConnections, stats.refused.get());
                }
                continue;
            }
            if (peerCheck != null && listener.address.isUnix()
                    && !peerCheck.admits(socket, listener.address, loop.nanoTime())) {
                continue;
            }
            if (tls != null) {
                tls.inProgress.incrementAndGet(); // its channel counts it out when the handshake ends
            }
            group.handOff(loop, listener.address, socket);
        }
    }

    /** Level-triggered accept would spin on EMFILE; rest the listener instead. */
    private void pause(Listener listener, IOException e) {
        if (failureWarnings.allow(loop.nanoTime())) {
            log.warn("accept on {} failed ({}); pausing accepts for {} ms", listener.address, e.getMessage(),
                    TimeUnit.NANOSECONDS.toMillis(ACCEPT_BACKOFF_NANOS));
        }
        rest(listener, ACCEPT_BACKOFF_NANOS);
    }

    private void rest(Listener listener, long nanos) {
        if (listener.interest(0)) {
            timers.schedule(listener.resume, loop.nanoTime() + nanos);
        }
    }

    /** Stops listening and removes the socket files the listeners created. Idempotent. */
    void close() {
        closed = true;
        for (Listener listener : listeners) {
            listener.close();
            timers.cancel(listener.resume);
        }
    }
}
