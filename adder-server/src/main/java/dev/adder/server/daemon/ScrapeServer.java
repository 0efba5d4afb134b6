package dev.adder.server.daemon;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Locale;
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
 * <p>Nothing here blocks, so no client can hold the thread: a request is read
 * as its bytes come, and answered once its head is whole, in the same turn as
 * other clients' bytes. What each client can take is bounded ({@link Limits}):
 * <ul>
 * <li>connections: at most {@code maxConnections} at once. One more closes
 *     the oldest rather than being refused: refusing would let whoever holds
 *     them all keep every scrape out until their heads' deadlines; closing the
 *     oldest makes a flood open that many connections within the moment it
 *     takes a scraper's request to arrive. Each turn reads before it accepts,
 *     and closes only connections accepted in an earlier turn, so every
 *     connection is read at least once before it can be closed for room.</li>
 * <li>the request head: at most {@code maxHeadBytes} (beyond, 431), parsed
 *     strictly ({@link RequestHead}), and whole within {@code headTimeout} of
 *     the accept. The deadline is not moved by progress: a head sent a byte at
 *     a time gets no more time than one that never comes.</li>
 * <li>the answer: taken within {@code answerTimeout} of its start. It is
 *     written without blocking; then the output is shut (the client sees the
 *     end) and what the client still sends is read and dropped, at most
 *     {@value #LINGER_BYTES} bytes, until it closes: closing a socket with
 *     unread bytes would reset the connection and could destroy the answer
 *     before the client read it (a body sent with a refused POST, say).</li>
 * <li>one request per connection ({@code Connection: close}): there is no
 *     keep-alive state to bound. A scraper that would keep its connection
 *     between scrapes opens one per scrape instead: one connection every few
 *     seconds, nothing to this endpoint.</li>
 * </ul>
 *
 * <p>It answers {@code GET} and {@code HEAD} of {@value #PATH} (a query is
 * allowed and ignored) with the {@link Scraper}'s scrape, made for each
 * request on this thread (HEAD with the same headers and no body); another
 * method there 405 with {@code Allow: GET, HEAD}; another path 404; a
 * malformed head 400 (505 for an HTTP version other than 1.x); an unfinished
 * head at its deadline 408, as far as the socket takes it at once.
 *
 * <p>Only the endpoint's thread touches the selector and the connections;
 * other threads read {@link #openConnections()} and
 * {@link #acceptedConnections()}, and call {@link #close()}.
 */
final class ScrapeServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ScrapeServer.class);

    /** The one resource served. */
    static final String PATH = "/metrics";
    /** The most a client may send after its answer, while the endpoint waits for it to close. */
    static final int LINGER_BYTES = 64 * 1024;
    /** After accept() fails (out of file descriptors, say), the listener rests this long rather than spin. */
    private static final long ACCEPT_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** At most one warning this often about connections closed for room, counting those not logged. */
    private static final long WARNING_INTERVAL_NANOS = TimeUnit.MINUTES.toNanos(1);
    /** RFC 9110's IMF-fixdate, for the Date header every answer carries. */
    private static final DateTimeFormatter HTTP_DATE =
            DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.ENGLISH);
    private static final String TEXT = "text/plain; charset=utf-8";

    /**
     * What one client may take of the endpoint.
     *
     * @param maxConnections connections held at once; one more closes the oldest
     * @param maxHeadBytes the longest request head (request line and headers), in bytes
     * @param headTimeout the longest from the accept to the head's last byte
     * @param answerTimeout the longest from the start of the answer until the client has taken it and closed
     */
    record Limits(int maxConnections, int maxHeadBytes, Duration headTimeout, Duration answerTimeout) {

        /**
         * 64 connections, heads of 4 KiB (a scraper's is under 1 KiB), 5 s to
         * send one (a scraper sends it in one segment at once), 10 s to take an
         * answer (Prometheus's default scrape timeout). A full endpoint holds
         * 64 × 4 KiB of heads: 256 KiB.
         */
        static final Limits DEFAULTS = new Limits(64, 4096, Duration.ofSeconds(5), Duration.ofSeconds(10));

        Limits {
            // 64 bytes: more than the shortest request for /metrics with a Host, so that a head can fit at all
            if (maxConnections < 1 || maxHeadBytes < 64 || headTimeout.isNegative() || headTimeout.isZero()
                    || answerTimeout.isNegative() || answerTimeout.isZero()) {
                throw new IllegalArgumentException("metrics limits out of range: " + maxConnections + " connections, "
                        + maxHeadBytes + " head bytes, head timeout " + headTimeout + ", answer timeout " + answerTimeout);
            }
        }
    }

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

    private enum State {
        /** Reading the request head, until its deadline. */
        HEAD,
        /** Writing the answer; the client's bytes wait in the kernel meanwhile. */
        ANSWERING,
        /** Answered and output shut: reading and dropping what the client sends until it closes. */
        LINGERING
    }

    /** One connection: one request and its answer. */
    private static final class Exchange {
        final SocketChannel channel;
        final SelectionKey key;
        /** The turn it was accepted in: one accepted in the current turn is never closed for room. */
        final long turn;
        ByteBuffer input;
        /** How much of {@link #input} is known to hold no blank line; the search resumes just before it. */
        int searched;
        ByteBuffer answer;
        State state = State.HEAD;
        long deadline;
        int dropped;

        Exchange(SocketChannel channel, SelectionKey key, long turn, int maxHeadBytes, long deadline) {
            this.channel = channel;
            this.key = key;
            this.turn = turn;
            this.input = ByteBuffer.allocate(maxHeadBytes);
            this.deadline = deadline;
        }
    }

    private final Scraper scraper;
    private final Limits limits;
    private final long headTimeoutNanos;
    private final long answerTimeoutNanos;
    private final Selector selector;
    private final ServerSocketChannel listener;
    private final SelectionKey listenerKey;
    private final int port;
    private final Thread thread;
    /** In accept order: the first is the oldest, the one closed for room. Endpoint thread only. */
    private final Set<Exchange> exchanges = new LinkedHashSet<>();
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

    private ScrapeServer(Selector selector, ServerSocketChannel listener, Scraper scraper, Limits limits)
            throws IOException {
        this.selector = selector;
        this.listener = listener;
        this.scraper = scraper;
        this.limits = limits;
        this.headTimeoutNanos = limits.headTimeout().toNanos();
        this.answerTimeoutNanos = limits.answerTimeout().toNanos();
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
    static ScrapeServer start(InetSocketAddress address, Scraper scraper, Limits limits) throws IOException {
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
                        onReady((Exchange) key.attachment(), now);
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
        for (Iterator<Exchange> it = exchanges.iterator(); it.hasNext();) {
            Exchange exchange = it.next();
            if (now - exchange.deadline >= 0) {
                it.remove();
                if (exchange.state == State.HEAD) {
                    log.debug("metrics: a request head unfinished after {}, closing", limits.headTimeout());
                    timeOut(exchange);
                } else {
                    log.debug("metrics: an answer not taken within {}, closing", limits.answerTimeout());
                    closeChannel(exchange);
                }
            } else if (!any || exchange.deadline - nearest < 0) {
                any = true;
                nearest = exchange.deadline;
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
                Exchange exchange = new Exchange(channel, key, turn, limits.maxHeadBytes(), now + headTimeoutNanos);
                key.attach(exchange);
                exchanges.add(exchange);
                open = exchanges.size();
                accepted++; // written by this thread alone
            } catch (IOException e) {
                log.debug("metrics: cannot set up an accepted connection ({})", e.toString());
                closeQuietly(channel);
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

    private void onReady(Exchange exchange, long now) {
        try {
            switch (exchange.state) {
                case HEAD -> readHead(exchange, now);
                case ANSWERING -> writeAnswer(exchange);
                case LINGERING -> drop(exchange);
            }
        } catch (IOException e) {
            log.debug("metrics: closing a connection: {}", e.toString());
            close(exchange);
        } catch (RuntimeException e) { // a bug, but one connection's: the endpoint serves on
            log.warn("metrics: closing a connection after an unexpected error", e);
            close(exchange);
        }
    }

    private void readHead(Exchange exchange, long now) throws IOException {
        ByteBuffer input = exchange.input;
        if (exchange.channel.read(input) < 0) {
            close(exchange); // gone before its request was whole: nothing to answer
            return;
        }
        byte[] bytes = input.array();
        int end = -1;
        boolean bare = false;
        // a CR is judged by the byte after it, so the search resumes at the last byte if it was a CR
        for (int i = exchange.searched; i < input.position(); i++) {
            if (bytes[i] == '\r') {
                if (i + 1 < input.position() && bytes[i + 1] != '\n') {
                    bare = true;
                    break;
                }
            } else if (bytes[i] == '\n') {
                if (i == 0 || bytes[i - 1] != '\r') {
                    bare = true; // a head of bare line ends has no CR LF CR LF: it would wait for its deadline
                    break;
                }
                if (i >= 3 && bytes[i - 2] == '\n' && bytes[i - 3] == '\r') {
                    end = i + 1;
                    break;
                }
            }
        }
        if (bare) {
            answer(exchange, now, plain(400, "Bad Request", "a line ended by a bare CR or LF", "", true));
            return;
        }
        if (end < 0) {
            int position = input.position();
            exchange.searched = position > 0 && bytes[position - 1] == '\r' ? position - 1 : position;
            if (!input.hasRemaining()) {
                answer(exchange, now, plain(431, "Request Header Fields Too Large",
                        "the request head is over " + limits.maxHeadBytes() + " bytes", "", true));
            }
            return;
        }
        RequestHead request;
        try {
            request = RequestHead.parse(bytes, end);
        } catch (RequestHead.Malformed e) {
            log.debug("metrics: refusing a request ({}): {}", e.status, e.getMessage());
            answer(exchange, now, plain(e.status, e.status == 505 ? "HTTP Version Not Supported" : "Bad Request",
                    e.getMessage(), "", true));
            return;
        }
        answer(exchange, now, answerTo(request));
    }

    private ByteBuffer answerTo(RequestHead request) {
        boolean body = !request.method().equals("HEAD");
        if (!request.path().equals(PATH)) {
            return plain(404, "Not Found", "only " + PATH + " is served here", "", body);
        }
        if (!request.method().equals("GET") && !request.method().equals("HEAD")) {
            return plain(405, "Method Not Allowed", PATH + " answers GET and HEAD", "Allow: GET, HEAD\r\n", true);
        }
        Scrape scrape;
        try {
            scrape = scraper.scrape(request.accept());
        } catch (IOException | RuntimeException | LinkageError e) {
            log.warn("metrics: a scrape failed; answering 500", e);
            return plain(500, "Internal Server Error", "the scrape failed (the daemon's log says why)", "", body);
        }
        return compose(200, "OK", scrape.contentType(), scrape.body(), "", body);
    }

    /** A short text answer: the status and why, in the body too for someone reading it with curl. */
    private static ByteBuffer plain(int status, String reason, String why, String headers, boolean body) {
        byte[] text = (status + " " + reason + ": " + why + "\n").getBytes(StandardCharsets.UTF_8);
        return compose(status, reason, TEXT, text, headers, body);
    }

    /**
     * The answer's bytes, head and body in one buffer, written by one call.
     * {@code Content-Length} is the body's, also without it (HEAD).
     */
    private static ByteBuffer compose(int status, String reason, String contentType, byte[] body, String headers,
            boolean withBody) {
        byte[] head = ("HTTP/1.1 " + status + " " + reason + "\r\n"
                + "Date: " + HTTP_DATE.format(ZonedDateTime.now(ZoneOffset.UTC)) + "\r\n"
                + "Content-Type: " + contentType + "\r\n"
                + "Content-Length: " + body.length + "\r\n"
                + headers
                + "Connection: close\r\n"
                + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer answer = ByteBuffer.allocate(head.length + (withBody ? body.length : 0)).put(head);
        if (withBody) {
            answer.put(body);
        }
        return answer.flip();
    }

    private void answer(Exchange exchange, long now, ByteBuffer answer) throws IOException {
        exchange.input = null; // the head is done with: a lingering connection holds no buffer
        exchange.answer = answer;
        exchange.state = State.ANSWERING;
        exchange.deadline = now + answerTimeoutNanos;
        writeAnswer(exchange);
    }

    private void writeAnswer(Exchange exchange) throws IOException {
        exchange.channel.write(exchange.answer);
        if (exchange.answer.hasRemaining()) {
            exchange.key.interestOps(SelectionKey.OP_WRITE);
            return;
        }
        exchange.answer = null;
        exchange.channel.shutdownOutput();
        exchange.state = State.LINGERING;
        exchange.key.interestOps(SelectionKey.OP_READ);
    }

    private void drop(Exchange exchange) throws IOException {
        while (true) {
            drain.clear();
            int read = exchange.channel.read(drain);
            if (read == 0) {
                return;
            }
            if (read < 0) {
                close(exchange); // the client has the answer and has closed: the exchange is over
                return;
            }
            exchange.dropped += read;
            if (exchange.dropped > LINGER_BYTES) {
                close(exchange);
                return;
            }
        }
    }

    /** 408 for a head that did not come whole in time, as far as the socket takes it at once; then closed. */
    private void timeOut(Exchange exchange) {
        try {
            exchange.channel.write(plain(408, "Request Timeout",
                    "the request head did not arrive within " + limits.headTimeout(), "", true));
        } catch (IOException e) {
            log.debug("metrics: cannot say 408 ({})", e.toString());
        }
        closeChannel(exchange);
    }

    private void close(Exchange exchange) {
        exchanges.remove(exchange);
        open = exchanges.size();
        closeChannel(exchange);
    }

    /**
     * Closes the connection's channel, which cancels its key; the selector
     * gives the descriptor back at its next select, which the loop makes at
     * once.
     */
    private static void closeChannel(Exchange exchange) {
        closeQuietly(exchange.channel);
    }

    private static void closeQuietly(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            log.debug("metrics: closing a connection failed ({})", e.toString());
        }
    }

    private void closeEverything() {
        for (Exchange exchange : exchanges) {
            closeChannel(exchange);
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
