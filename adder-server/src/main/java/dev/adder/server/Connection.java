package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.core.RequestDecoder;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client's protocol, owned by the loop thread: read, decode, answer,
 * send or hold what the socket did not take, flush, backpressure, half-close,
 * idle, drain. It knows its socket only through {@link ConnectionChannel} and
 * time only through the {@link Clock} of its {@link Serving}, so a test drives
 * it with an in-memory channel and a clock it advances by hand.
 *
 * <p>Between requests it holds at most 15 bytes of an unfinished request; it
 * holds answers of its own only while its client reads more slowly than it
 * asks. A failure of its socket closes it alone.
 */
final class Connection {

    private static final Logger log = LoggerFactory.getLogger(Connection.class);

    /**
     * While stopping, a connection quiet this long after its answers are flushed is closed,
     * counted from the first drain check that saw its latest traffic.
     */
    static final long DRAIN_QUIET_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /**
     * While the answers held for slow readers are over the server's budget,
     * a connection holding none is still read, but this little at a time: it
     * can add at most 128 bytes of answers before it holds some and is paused.
     */
    static final int OVER_BUDGET_READ_BYTES = 16 * Protocol.REQUEST_BYTES;
    /** At stop, the most read from one connection's kernel receive buffer. */
    static final long STOP_READ_LIMIT_BYTES = 8L * 1024 * 1024;

    final long id;
    final AdderAddress listener;
    private final ConnectionChannel channel;
    private final Serving serving;
    private final RequestDecoder decoder = new RequestDecoder();
    /** Answers the socket has not taken yet. */
    private final OutputBuffer pending = new OutputBuffer();
    private long lastActiveNanos;
    /** Reads and writes that moved bytes: a drain check tells by it whether traffic came since the last check. */
    private long transfers;
    /** The {@link #transfers} the last drain check saw. */
    private long transfersSeen = -1;
    /** The loop's time at the first drain check that saw {@link #transfersSeen}. */
    private long quietSinceNanos;
    /** The client shut down its output: answer what it sent, then close. */
    private boolean inputClosed;
    /** The server is stopping: take no new requests, flush, then close. */
    private boolean draining;
    /** Too many answers wait for the client: requests are not read until they drain. */
    private boolean readPaused;
    private boolean closed;

    /** Links of the {@link OutputBudget}'s list of connections holding answers. */
    boolean holding;
    Connection prevHolder;
    Connection nextHolder;

    Connection(long id, ConnectionChannel channel, AdderAddress listener, Serving serving) {
        this.id = id;
        this.channel = channel;
        this.listener = listener;
        this.serving = serving;
        this.lastActiveNanos = serving.clock.exactNanoTime();
    }

    long pendingBytes() {
        return pending.size();
    }

    boolean isClosed() {
        return closed;
    }

    /** Handles readiness: writes what is pending first, then reads. */
    void onReady(int readyOps) {
        try {
            if ((readyOps & SelectionKey.OP_WRITE) != 0) {
                flush();
            }
            if ((readyOps & SelectionKey.OP_READ) != 0 && !closed) {
                read(true);
            }
        } catch (IOException e) {
            // resets and broken pipes are the peer's doing, not the server's
            log.debug("{}: closing after I/O error: {}", this, e.toString());
            close();
        } catch (RuntimeException e) {
            log.warn("{}: closing after unexpected error", this, e);
            close();
        }
    }

    /**
     * One read, at most the whole read buffer, and its answers. Serving does
     * one per connection per turn: the fairness budget; a client with more to
     * send is ready again next turn, after every other ready client had its
     * turn. Returns what the channel's read returned.
     *
     * @param withinBudget whether a server over its output budget reads only a little
     */
    private int read(boolean withinBudget) throws IOException {
        ByteBuffer in = serving.in;
        in.clear();
        if (withinBudget && serving.budget.isOver()) {
            in.limit(OVER_BUDGET_READ_BYTES);
        }
        int n = channel.read(in);
        if (n < 0) {
            endOfInput();
        } else if (n > 0) {
            lastActiveNanos = serving.clock.exactNanoTime();
            transfers++;
            serving.stats.bytesRead.add(n);
            if (!draining) { // while stopping, requests read are dropped
                answer();
            }
        }
        return n;
    }

    /** Answers every request completed by the bytes in {@code in}, in one write. */
    private void answer() throws IOException {
        ByteBuffer in = serving.in;
        ByteBuffer out = serving.out;
        in.flip();
        out.clear();
        int answered = decoder.decode(in, serving.answer);
        if (answered > 0) {
            serving.stats.requests.add(answered);
            out.flip();
            send(out);
        }
        // Half a request is left: its sender may be holding the rest back until this part is
        // acknowledged (Nagle's algorithm). An answer just written carries the acknowledgement;
        // without one, the kernel would delay it up to 40 ms, so ask for it now. Under pipelined
        // load most reads end mid-request but carry answers: no system call for those.
        if (decoder.pendingBytes() > 0 && (answered == 0 || !pending.isEmpty())) {
            channel.acknowledgeAtOnce();
        }
        if (!readPaused && pending.size() >= serving.maxPendingOutput) {
            readPaused = true;
            updateInterest();
        }
    }

    /** Writes {@code answers} after whatever is already pending; holds what the socket does not take. */
    private void send(ByteBuffer answers) throws IOException {
        if (!pending.isEmpty()) {
            hold(answers);
            flush();
            return;
        }
        int written = channel.write(answers);
        serving.stats.bytesWritten.add(written);
        if (answers.hasRemaining()) {
            hold(answers);
            updateInterest();
        }
    }

    private void hold(ByteBuffer answers) {
        int count = answers.remaining();
        pending.append(answers);
        serving.budget.changed(this, count, pending.size());
    }

    private void flush() throws IOException {
        long written = pending.writeTo(channel, serving.gather);
        if (written > 0) {
            lastActiveNanos = serving.clock.exactNanoTime();
            transfers++;
            serving.stats.bytesWritten.add(written);
            serving.budget.changed(this, -written, pending.size());
        }
        if (readPaused && pending.size() <= serving.maxPendingOutput / 2) {
            readPaused = false;
        }
        if (pending.isEmpty()) {
            if (inputClosed) {
                close();
                return;
            }
            if (draining) {
                shutdownOutput();
            }
        }
        updateInterest();
    }

    private void endOfInput() {
        int dropped = decoder.pendingBytes();
        if (dropped > 0) {
            log.debug("{}: end of stream; dropping {} bytes of an unfinished request", this, dropped);
        }
        inputClosed = true;
        if (pending.isEmpty()) {
            close();
        } else {
            updateInterest();
        }
    }

    /**
     * Interest follows state: read unless paused, over the budget with answers
     * held, or closed for input; write while answers are pending.
     */
    void updateInterest() {
        if (closed) {
            return;
        }
        int interest = 0;
        if (!inputClosed && !readPaused && !(serving.budget.isOver() && !pending.isEmpty())) {
            interest |= SelectionKey.OP_READ;
        }
        if (!pending.isEmpty()) {
            interest |= SelectionKey.OP_WRITE;
        }
        channel.interest(interest);
    }

    /** Closes the connection if nothing came or went for {@code idleNanos}; returns whether it did. */
    boolean closeIfIdle(long idleNanos) {
        if (closed || serving.clock.nanoTime() - lastActiveNanos < idleNanos) {
            return false;
        }
        log.debug("{}: closing after {} ms idle", this, TimeUnit.NANOSECONDS.toMillis(idleNanos));
        close();
        return true;
    }

    /**
     * The server is stopping: answers what the client sent so far, meaning
     * what this host received: what was read, and what waits in the kernel's
     * receive buffer (read now, up to 8 MiB), even if reading was paused.
     * Requests arriving later are read and dropped. The output is shut down
     * once the answers are flushed, so the client sees the end of the stream.
     */
    void beginDrain() {
        try {
            long limit = STOP_READ_LIMIT_BYTES;
            int n = 1;
            while (n > 0 && limit > 0 && !inputClosed && !closed) {
                n = read(false); // what the kernel already holds was received: no budget applies
                limit -= n;
            }
        } catch (IOException e) {
            log.debug("{}: closing after I/O error: {}", this, e.toString());
            close();
        }
        if (closed) {
            return;
        }
        draining = true;
        readPaused = false;
        if (pending.isEmpty()) {
            shutdownOutput();
        }
        updateInterest();
    }

    /**
     * While draining: closes the connection once its answers are flushed, it
     * has been quiet a moment and nothing waits unread (closing a socket with
     * bytes unread makes the kernel reset the connection, and the reset
     * discards the answers in flight), or at the deadline whatever it holds.
     * Returns whether it is closed.
     */
    boolean closeIfDrained(boolean pastDeadline) {
        if (closed) {
            return true;
        }
        boolean flushedAndQuiet = pending.isEmpty() && quietSinceLastTraffic() && nothingUnread();
        if (closed) { // the look found the end of the stream, or an error
            return true;
        }
        if (!pastDeadline && !flushedAndQuiet) {
            return false;
        }
        if (!pending.isEmpty()) {
            log.warn("{}: drain time over; closing with {} bytes of answers unsent", this, pending.size());
        }
        close();
        return true;
    }

    /**
     * Whether {@link #DRAIN_QUIET_NANOS} have passed since the first drain check
     * that saw this connection's latest traffic. Not since {@link #lastActiveNanos}:
     * that is the loop's time when the traffic's turn began, and one turn can be
     * long (the stop itself reads what waits on every connection), so by that
     * stamp a client that sent throughout a long turn was quiet all of it. A
     * check runs after the turns it follows, so the quiet it counts is no
     * longer than the real one.
     */
    private boolean quietSinceLastTraffic() {
        long now = serving.clock.nanoTime();
        if (transfers != transfersSeen) {
            transfersSeen = transfers;
            quietSinceNanos = now;
            return false;
        }
        return now - quietSinceNanos >= DRAIN_QUIET_NANOS;
    }

    /**
     * Reads once, and drops what came, to tell whether nothing waits unread:
     * the checks saw no traffic, but the loop last looked at this socket when
     * its last select returned, and requests may have come during the work
     * after it. What is read counts as traffic, so quiet starts again at the
     * next check.
     */
    private boolean nothingUnread() {
        try {
            return read(false) == 0;
        } catch (IOException e) {
            log.debug("{}: closing after I/O error: {}", this, e.toString());
            close();
            return false;
        }
    }

    private void shutdownOutput() {
        try {
            channel.shutdownOutput();
        } catch (IOException e) {
            log.debug("{}: shutdown of output failed: {}", this, e.toString());
        }
    }

    /** Closes the socket and gives back the answers it held to the budget. Idempotent. */
    void close() {
        if (closed) {
            return;
        }
        closed = true;
        channel.close();
        serving.stats.openConnections.add(-1);
        serving.assigned.decrementAndGet();
        if (!pending.isEmpty()) {
            long held = pending.size();
            pending.clear();
            serving.budget.changed(this, -held, 0);
        }
        log.debug("{}: closed", this);
    }

    @Override
    public String toString() {
        return "connection #" + id + " on " + listener;
    }
}
