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
 * One client's protocol, owned by the loop thread: read, decode, answer (it
 * is the decoder's sink), send or hold what the socket did not take, flush,
 * backpressure, half-close, idle, drain. It knows its socket only through
 * {@link ConnectionChannel} and time only through a {@link Clock}, so a test
 * drives it with an in-memory channel and a clock it advances by hand.
 *
 * <p>Between requests it holds at most 15 bytes of an unfinished request; it
 * holds answers of its own only while its client reads more slowly than it
 * asks. A failure of its socket closes it alone.
 */
final class Connection extends KeyHandler implements RequestDecoder.Sink {

    private static final Logger log = LoggerFactory.getLogger(Connection.class);

    /** While stopping, a flushed connection quiet this long (from the first drain check that saw its latest traffic) is closed. */
    static final long DRAIN_QUIET_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /**
     * Over the budget of held answers, a connection holding none is still read, but this little at
     * a time: it can add at most 128 bytes of answers before it holds some and is paused. (Under
     * TLS, one record at a time: a record is decrypted whole.)
     */
    static final int OVER_BUDGET_READ_BYTES = 16 * Protocol.REQUEST_BYTES;
    /** At stop, the most read from one connection's kernel receive buffer. */
    static final long STOP_READ_LIMIT_BYTES = 8L * 1024 * 1024;

    final long id;
    final AdderAddress listener;
    private final ConnectionChannel channel;
    private final Connections connections;
    /** What a request passes through of what the loop's connections share, kept here: one load away. */
    private final ByteBuffer in;
    private final ByteBuffer out;
    private final LoopStats stats;
    private final Clock clock;
    private final RequestDecoder decoder = new RequestDecoder();
    /** Answers the socket has not taken yet. */
    private final OutputBuffer pending = new OutputBuffer();
    private long lastActiveNanos;
    /** Reads and writes that moved bytes: a drain check tells by it whether traffic came since the last. */
    private long transfers;
    /** The client shut down its output: answer what it sent, then close. */
    private boolean inputClosed;
    /** Set once the server is stopping: take no new requests, flush, then close. */
    private Draining drain;
    /** Too many answers wait for the client: requests are not read until they drain. */
    private boolean readPaused;
    private boolean closed;
    /** Whether it holds answers: {@code pending} is not empty, or its channel holds some ({@code channelHeld > 0}). */
    private boolean holding;
    /** Bytes its channel took and holds unsent (TLS records), as it last told; the budget counts them. */
    private int channelHeld;
    /** The {@link OutputBudget}'s state, as it last told ({@link #budgetTurned}). */
    private boolean overBudget;

    /** Links of the list of its loop's open connections, kept by {@link Connections}. */
    Connection prevOpen;
    Connection nextOpen;

    Connection(long id, ConnectionChannel channel, AdderAddress listener, Connections connections) {
        this.id = id;
        this.channel = channel;
        this.listener = listener;
        this.connections = connections;
        this.in = connections.in;
        this.out = connections.out;
        this.stats = connections.stats;
        this.clock = connections.clock;
        this.overBudget = connections.budget.isOver();
        this.lastActiveNanos = clock.exactNanoTime();
        connections.add(this);
    }

    /** Answers it holds: its own, and the channel's records not yet sent. */
    long pendingBytes() {
        return pending.size() + channelHeld;
    }

    boolean isClosed() {
        return closed;
    }

    @Override
    void registeredAs(SelectionKey key) {
        channel.registeredAs(key);
    }

    /** Handles readiness: writes what is pending first, then reads. */
    @Override
    void onReady(int readyOps) {
        try {
            if ((readyOps & SelectionKey.OP_WRITE) != 0) {
                flush();
            }
            if ((readyOps & SelectionKey.OP_READ) != 0 && !closed) {
                read(true);
            }
        } catch (IOException e) {
            failed(e);
        } catch (RuntimeException e) {
            log.warn("{}: closing after unexpected error", this, e);
            close();
        }
    }

    /**
     * One read, at most the whole read buffer, and its answers: one per connection per turn is
     * the fairness budget; a client with more to send is ready again next turn, after every other
     * ready client had its turn. Returns what the channel's read returned.
     *
     * @param withinBudget whether a server over its output budget reads only a little
     */
    private int read(boolean withinBudget) throws IOException {
        in.clear();
        if (withinBudget && overBudget) {
            in.limit(Math.max(OVER_BUDGET_READ_BYTES, channel.smallestRead()));
        }
        int n = channel.read(in);
        if (n > 0) {
            lastActiveNanos = clock.exactNanoTime();
            transfers++;
            answer(n);
            if (!closed && !inputClosed && channel.inputEnded()) {
                endOfInput();
            }
        } else if (n < 0) {
            endOfInput();
        }
        return n;
    }

    /** Counts the {@code bytes} just read into {@code in} and answers every request they complete, in one write. */
    private void answer(int bytes) throws IOException {
        if (drain != null) { // while stopping, requests read are dropped
            stats.countRead(bytes, 0);
            return;
        }
        in.flip();
        out.clear();
        int answered = decoder.decode(in, this);
        stats.countRead(bytes, answered); // before the answers go: a client that has one sees it counted
        if (answered > 0) {
            out.flip();
            send(out);
        }
        // Half a request is left: its sender may be holding the rest back until this part is
        // acknowledged (Nagle's algorithm). An answer just written carries the acknowledgement;
        // without one, the kernel would delay it up to 40 ms, so ask for it now. Under pipelined
        // load most reads end mid-request but carry answers: no system call for those.
        if ((answered == 0 || holding) && decoder.pendingBytes() > 0) {
            channel.acknowledgeAtOnce();
        }
        if (holding && !readPaused && pending.size() >= connections.maxPendingOutput) {
            readPaused = true;
            updateInterest();
        }
    }

    /** The decoder's sink: one request's answer, into the loop's output buffer. */
    @Override
    public void request(long x, long y) {
        Protocol.encodeResponse(out, Protocol.answer(x, y));
    }

    /** Writes {@code answers} after whatever is already pending; holds what the socket does not take. */
    private void send(ByteBuffer answers) throws IOException {
        if (holding) {
            hold(answers);
            flush();
            return;
        }
        int written = channel.write(answers);
        stats.bytesWritten.add(written);
        if (answers.hasRemaining()) {
            hold(answers);
            updateInterest();
        } else if (channel.heldBytes() != channelHeld) {
            held(0);
            updateInterest();
        }
    }

    private void hold(ByteBuffer answers) {
        int count = answers.remaining();
        pending.append(answers);
        held(count);
    }

    /** {@code change} bytes more (or fewer) pending, and the channel's held bytes as it tells now: to the budget. */
    private void held(long change) {
        int inChannel = channel.heldBytes();
        change += inChannel - channelHeld;
        channelHeld = inChannel;
        holding = !pending.isEmpty() || inChannel > 0; // before the budget hears of it: a turn it causes tells this connection too
        if (change != 0) {
            connections.budget.changed(change);
        }
    }

    private void flush() throws IOException {
        boolean moved = channelHeld > 0 && channel.flushHeld();
        long written = pending.writeTo(channel, connections.gather);
        if (written > 0 || moved) {
            lastActiveNanos = clock.exactNanoTime();
            transfers++;
            stats.bytesWritten.add(written);
        }
        held(-written);
        if (readPaused && pending.size() <= connections.maxPendingOutput / 2) {
            readPaused = false;
        }
        if (!holding) {
            if (inputClosed) {
                close();
                return;
            }
            if (drain != null) {
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
        if (!holding) {
            close();
        } else {
            updateInterest();
        }
    }

    /** Interest follows state: read unless paused, over the budget holding answers, or closed for input; write while holding. */
    void updateInterest() {
        if (closed) {
            return;
        }
        int interest = 0;
        if (!inputClosed && !readPaused && !(overBudget && holding)) {
            interest |= SelectionKey.OP_READ;
        }
        if (holding) {
            interest |= SelectionKey.OP_WRITE;
        }
        channel.interest(interest);
    }

    /** The budget went over or back under: connections holding answers stop or resume reading. */
    void budgetTurned(boolean over) {
        overBudget = over;
        if (holding) {
            updateInterest();
        }
    }

    /** Its TLS handshake just ended: the idle time counts from now, not from the accept. */
    void handshakeDone() {
        lastActiveNanos = clock.exactNanoTime();
    }

    /**
     * Closes the connection if nothing came or went for {@code idleNanos}; returns whether it did. A TLS
     * handshake is not idle time: the handshake timeout bounds it instead.
     */
    boolean closeIfIdle(long idleNanos) {
        if (closed || clock.nanoTime() - lastActiveNanos < idleNanos || channel.inHandshake()) {
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
        readWaiting(STOP_READ_LIMIT_BYTES);
        if (closed) {
            return;
        }
        drain = new Draining(this, clock);
        readPaused = false;
        if (!holding) {
            shutdownOutput();
        }
        updateInterest();
    }

    /** While draining: closes the connection if {@link Draining} finds it may be; returns whether it is closed. */
    boolean closeIfDrained(boolean pastDeadline) {
        return closed || drain.closeIfDrained(pastDeadline);
    }

    long transfers() {
        return transfers;
    }

    /**
     * Reads what waits in the kernel, up to about {@code limit} bytes, and answers it (or drops it,
     * while draining); returns the bytes read. What the kernel holds was received: no budget applies.
     */
    long readWaiting(long limit) {
        long total = 0;
        try {
            int n = 1;
            while (n > 0 && total < limit && !inputClosed && !closed) {
                n = read(false);
                total += Math.max(0, n);
            }
        } catch (IOException e) {
            failed(e);
        }
        return total;
    }

    /** Resets and broken pipes are the peer's doing, not the server's: closed quietly. */
    private void failed(IOException e) {
        log.debug("{}: closing after I/O error: {}", this, e.toString());
        close();
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
        connections.closed(this);
        if (holding) {
            long held = pending.size() + channelHeld;
            pending.clear();
            channelHeld = 0;
            holding = false;
            connections.budget.changed(-held);
        }
        log.debug("{}: closed", this);
    }

    @Override
    public String toString() {
        return "connection #" + id + " on " + listener;
    }
}
