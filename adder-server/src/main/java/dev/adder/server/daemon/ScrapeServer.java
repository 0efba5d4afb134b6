package dev.adder.server.daemon;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP side of the daemon's {@code /metrics}: a server of one resource on
 * one thread and one {@link Selector}, made so that a monitoring system can
 * scrape while other clients misbehave. It replaced the JDK's
 * {@code com.sun.net.httpserver} (through the Prometheus client's
 * {@code HTTPServer}), under which a dozen requests sent slowly stopped every
 * scrape for as long as they were held, any method on any path was answered
 * with the metrics, and descriptors of dropped half-sent requests were not
 * given back.
 *
 * <p>Nothing here blocks, so no client can hold the thread: each connection is
 * a {@link ScrapeExchange}, moved on as its bytes come, in the same turn as
 * other clients' bytes; what it is answered is {@link HttpAnswer}'s. What each
 * client can take is bounded ({@link ScrapeLimits}):
 * <ul>
 * <li>connections: at most {@code maxConnections} at once. One more closes
 *     the oldest rather than being refused: refusing would let whoever holds
 *     them all keep every scrape out until their heads' deadlines; closing the
 *     oldest makes a flood open that many connections within the moment it
 *     takes a scraper's request to arrive. Each turn reads before it accepts,
 *     and closes only connections accepted in an earlier turn, so every
 *     connection is read at least once before it can be closed for room.</li>
 * <li>the request head and the answer: each within its own deadline, the head
 *     within {@code maxHeadBytes} ({@link ScrapeExchange} says how).</li>
 * <li>one request per connection ({@code Connection: close}): there is no
 *     keep-alive state to bound. A scraper that would keep its connection
 *     between scrapes opens one per scrape instead: one connection every few
 *     seconds, nothing to this endpoint.</li>
 * </ul>
 *
 * <p>Only the endpoint's thread touches the selector and the connections;
 * other threads read {@link #openConnections()} and
 * {@link #acceptedConnections()}, and call {@link #close()}.
 */
final class ScrapeServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ScrapeServer.class);

    /** After accept() fails (out of file descriptors, say), the listener rests this long rather than spin. */
    private static final long ACCEPT_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** At most one warning this often about connections closed for room, counting those not logged. */
    private static final long WARNING_INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);

    /** A scrape's answer: its content type and body. */
    record Scrape(String contentType, byte[] body) {
    }

    /** Makes the answer to a scrape. */
    @FunctionalInterface
    interface Scraper {
        /**
         * @param accept the request's {@code Accept} header, or null without one: the format to choose
         * @throws IOException if the scrape cannot be made; the client gets 500
         */
        Scrape scrape(String accept) throws IOException;
    }

    private final Scraper scraper;
    private final ScrapeLimits limits;
    private final Selector selector;
    private final ServerSocketChannel listener;
    private final SelectionKey listenerKey;
    private final int port;
    private final Thread thread;
    /** In accept order: the first is the oldest, the one closed for room. Endpoint thread only. */
    private final Set<ScrapeExchange> exchanges = new LinkedHashSet<>();
    /** Where what a lingering client sends is read to be dropped. */
    private final ByteBuffer drain = ByteBuffer.allocate(8192);
    /** The size of {@link #exchanges}, for other threads. */
    private volatile int open;
    /** Connections accepted since the start, for other threads. */
    private volatile long accepted;
    private volatile boolean closing;
    private long turn;
    private boolean acceptPaused;
    private long acceptResumes;
    private long closedForRoom;
    private long closedForRoomLogged;
    private long lastRoomWarning;
    private boolean roomWarned;

    private ScrapeServer(Selector selector, ServerSocketChannel listener, Scraper scraper, ScrapeLimits limits)
            throws IOException {
        this.selector = selector;
        this.listener = listener;
        this.scraper = scraper;
        this.limits = limits;
        this.listenerKey = listener.register(selector, SelectionKey.OP_ACCEPT);
        this.port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
        this.thread = new Thread(this::run, "adder-metrics");
        thread.setDaemon(true); // the daemon's stop closes it; it must never be what keeps a JVM alive
    }

    /**
     * Listens on {@code address} (port 0 picks one) and serves on a thread of
     * its own until {@link #close()}.
     *
     * @throws IOException if the address cannot be resolved or bound
     */
    static ScrapeServer start(InetSocketAddress address, Scraper scraper, ScrapeLimits limits) throws IOException {
        if (address.isUnresolved()) {
            throw new IOException("cannot resolve " + address.getHostString());
        }
        Selector selector = Selector.open();
        ServerSocketChannel listener = null;
        try {
            listener = ServerSocketChannel.open();
            // a restarted daemon binds its port again while the last one's closed connections wait in TIME_WAIT
            listener.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            listener.bind(address);
            listener.configureBlocking(false);
            ScrapeServer server = new ScrapeServer(selector, listener, scraper, limits);
            server.thread.start();
            return server;
        } catch (IOException | RuntimeException e) {
            if (listener != null) {
                listener.close();
            }
            selector.close();
            throw e;
        }
    }

    /** The port it listens on: the one asked for, or the one picked for port 0. */
    int port() {
        return port;
    }

    /** Connections it holds now, whatever their state. */
    int openConnections() {
        return open;
    }

    /** Connections it has accepted since it started. */
    long acceptedConnections() {
        return accepted;
    }

    /**
     * Stops the endpoint and returns once its thread has closed every
     * connection, the listener and the selector. Idempotent; any thread.
     */
    @Override
    public void close() {
        closing = true;
        selector.wakeup(); // a no-op once the thread has closed the selector
        if (Thread.currentThread() == thread) {
            return;
        }
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true; // the descriptors must be closed before returning, so wait on
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private void run() {
        try {
            while (!closing) {
                long wait = closeExpired(System.nanoTime());
                selector.select(wait);
                if (closing) {
                    break;
                }
                turn++;
                long now = System.nanoTime();
                boolean acceptable = false;
                for (SelectionKey key : selector.selectedKeys()) {
                    if (!key.isValid()) {
                        continue; // closed for room or at its deadline earlier in this turn
                    }
                    if (key == listenerKey) {
                        acceptable = true; // after the reads: see the class comment
                    } else {
                        onReady((ScrapeExchange) key.attachment(), now);
                    }
                }
                selector.selectedKeys().clear();
                if (acceptable) {
                    accept(now);
                }
            }
        } catch (Throwable e) {
            log.error("the metrics endpoint failed ({}); /metrics no longer answers", e.toString(), e);
        } finally {
            closeEverything();
        }
    }

    /**
     * Closes the connections past their deadline and resumes accepting when
     * its rest is over; returns how long the select may wait: until the
     * nearest deadline (0, for ever, when there is none).
     */
    private long closeExpired(long now) {
        boolean any = false;
        long nearest = 0;
        for (Iterator<ScrapeExchange> it = exchanges.iterator(); it.hasNext();) {
            ScrapeExchange exchange = it.next();
            if (now - exchange.deadline() >= 0) {
                it.remove();
                exchange.expire();
            } else if (!any || exchange.deadline() - nearest < 0) {
                any = true;
                nearest = exchange.deadline();
            }
        }
        open = exchanges.size();
        if (acceptPaused) {
            if (now - acceptResumes >= 0) {
                acceptPaused = false;
                listenerKey.interestOps(SelectionKey.OP_ACCEPT);
            } else if (!any || acceptResumes - nearest < 0) {
                any = true;
                nearest = acceptResumes;
            }
        }
        // rounded up, so that the select does not return just before the deadline and spin until it
        return any ? Math.max(1, TimeUnit.NANOSECONDS.toMillis(nearest - now + 999_999)) : 0;
    }

    private void accept(long now) {
        while (true) {
            boolean full = exchanges.size() >= limits.maxConnections();
            if (full && exchanges.iterator().next().turn == turn) {
                return; // the rest wait in the backlog for the next turn, after its reads
            }
            SocketChannel channel;
            try {
                channel = listener.accept();
            } catch (IOException e) {
                log.warn("metrics: accept failed ({}); pausing accepts for {} ms", e.getMessage(),
                        TimeUnit.NANOSECONDS.toMillis(ACCEPT_BACKOFF_NANOS));
                acceptPaused = true;
                acceptResumes = now + ACCEPT_BACKOFF_NANOS;
                listenerKey.interestOps(0);
                return;
            }
            if (channel == null) {
                return;
            }
            if (full) {
                close(exchanges.iterator().next());
                closedForRoom++;
                warnAboutRoom(now);
            }
            try {
                channel.configureBlocking(false);
                // each answer is written whole at once and followed by a FIN: nothing for Nagle to gather
                channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                SelectionKey key = channel.register(selector, SelectionKey.OP_READ);
                ScrapeExchange exchange = new ScrapeExchange(channel, key, turn, now, limits, scraper);
                key.attach(exchange);
                exchanges.add(exchange);
                open = exchanges.size();
                accepted++; // written by this thread alone
            } catch (IOException e) {
                log.debug("metrics: cannot set up an accepted connection ({})", e.toString());
                ScrapeExchange.closeQuietly(channel);
            }
        }
    }

    private void warnAboutRoom(long now) {
        if (!roomWarned || now - lastRoomWarning >= WARNING_INTERVAL_NANOS) {
            log.warn("metrics: {} connections open, the most; closed the oldest to make room ({} so far, {} since the"
                    + " last warning)", limits.maxConnections(), closedForRoom, closedForRoom - closedForRoomLogged);
            roomWarned = true;
            lastRoomWarning = now;
            closedForRoomLogged = closedForRoom;
        }
    }

    private void onReady(ScrapeExchange exchange, long now) {
        try {
            if (!exchange.onReady(now, drain)) {
                close(exchange);
            }
        } catch (IOException e) {
            log.debug("metrics: closing a connection: {}", e.toString());
            close(exchange);
        } catch (RuntimeException e) { // a bug, but one connection's: the endpoint serves on
            log.warn("metrics: closing a connection after an unexpected error", e);
            close(exchange);
        }
    }

    private void close(ScrapeExchange exchange) {
        exchanges.remove(exchange);
        open = exchanges.size();
        exchange.close();
    }

    private void closeEverything() {
        for (ScrapeExchange exchange : exchanges) {
            exchange.close();
        }
        exchanges.clear();
        open = 0;
        try {
            listener.close();
        } catch (IOException e) {
            log.debug("metrics: closing the listener failed ({})", e.toString());
        }
        try {
            selector.close(); // deregisters the closed channels: their descriptors are given back here
        } catch (IOException e) {
            log.debug("metrics: closing the selector failed ({})", e.toString());
        }
    }
}
