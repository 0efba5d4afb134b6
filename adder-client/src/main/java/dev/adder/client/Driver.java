package dev.adder.client;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.core.poll.AnswerPoll;
import dev.adder.core.tls.TlsBuffers;
import dev.adder.core.tls.TlsPipe;
import java.io.IOException;
import java.net.SocketException;
import javax.net.ssl.SSLException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The driver's role: whoever holds it (see {@link Calls}) owns the
 * connection and does all its work: connects (again), writes what is
 * queued, reads what is due. It always waits for readable and writable
 * together, so it never stops reading to write: a server that stops reading
 * a client that does not read its answers (as Adder's does) is never waited
 * on while its answers pile up. Every wait ends at the nearest deadline: the
 * holder's own call, the earliest of the calls it times, the connect's.
 *
 * <p>Only the role's holder touches the fields below but {@link #selector}
 * and the volatile ones; the role is handed on under the line's lock, so
 * each holder sees what the last did. The socket is read in {@link #read}
 * and written in {@link #write}, nowhere else.
 */
final class Driver {

    private static final int BUFFER_BYTES = 64 * 1024;
    /** The longest a request queued beside answers still due waits to be written. */
    private static final long DEFERRED_WRITE_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
    private static final long IDLE_WAIT_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final AdderAddress address;
    private final Calls calls;
    private final Connector connector;
    private final boolean replay;
    /** Whether a caller waiting for its answer polls rather than sleeps; learnt from recent waits. */
    private final AnswerPoll busyPoll;
    /** The present wait is a poll (a read that does not block), not a select; it holds one of {@link #POLLERS}. */
    private boolean polling;
    /**
     * Callers polling now and platform callers waiting for an answer, over
     * every client of the JVM: a caller polls only while no more wait than
     * there are cores, and at most cores - 1 poll, so that a spinning caller
     * never keeps another from running.
     */
    private static final AtomicInteger POLLERS = new AtomicInteger();
    static final AtomicInteger CALLERS = new AtomicInteger();
    private static final int CORES = Runtime.getRuntime().availableProcessors();
    private static final int MAX_POLLERS = Math.max(1, CORES - 1);
    private final ByteBuffer out = ByteBuffer.allocateDirect(BUFFER_BYTES).order(Protocol.BYTE_ORDER).flip();
    private final ByteBuffer in = ByteBuffer.allocateDirect(BUFFER_BYTES).order(Protocol.BYTE_ORDER);
    /** Closed with the client; close() wakes it. */
    private final Selector selector;
    private SocketChannel channel;
    /** For a tls: address, how its connections begin TLS; null for plain ones. */
    private final ClientTls clientTls;
    /** The connection's TLS, from its connect until it is dropped; its handshake is part of the connect. */
    private TlsPipe tls;
    private final TlsBuffers tlsBuffers;
    private SelectionKey key;
    private boolean connected;
    /** nanoTime by which a connect under way must finish. */
    private long connectDeadline;
    /** No connect before this nanoTime (0: none planned). */
    private long pauseUntil;
    /** Connections lost in a row, with calls on them, since an answer last came. */
    private int losses;
    /** What went wrong since an answer last came, for the message of a call that times out meanwhile ("" if nothing). */
    private volatile String trouble = "";
    /** The holder is in its selector, or about to be; a caller woke it since it went in (see {@link #nudge}). */
    private volatile boolean selecting;
    private final AtomicBoolean nudged = new AtomicBoolean();

    Driver(AdderAddress address, Calls calls, boolean replay, long connectTimeoutNanos, long busyPollNanos,
            ClientTls clientTls) {
        this.address = address;
        this.clientTls = clientTls;
        this.tlsBuffers = clientTls == null ? null : new TlsBuffers();
        this.calls = calls;
        this.connector = new Connector(address, connectTimeoutNanos);
        this.replay = replay;
        this.busyPoll = new AnswerPoll(busyPollNanos);
        try {
            this.selector = Selector.open();
        } catch (IOException e) {
            throw new AdderException("cannot connect to " + address + ": no selector: " + e.getMessage(), e)
                    .as(FailureKind.CONNECT);
        }
    }

    /** ": its connection was lost twice; last failure: ...", or "": what a timeout's message adds. */
    String trouble() {
        return trouble;
    }

    /** Holding the role: works until {@code mine} is over (null: until no waiter needs the background driver). */
    void drive(Waiter mine) {
        try {
            work(mine);
            if (connected && !calls.isClosed() && (unsent() || calls.mayHaveUnsent())) {
                write(); // what was queued meanwhile goes out now: the server works while the next holder wakes
            }
        } catch (RuntimeException | Error e) { // a bug, or out of memory: the calls on the connection must not hang
            drop();
            calls.lost(new AdderException("call to " + address + " failed: " + e, e), false);
            throw e;
        } finally {
            stopPolling();
            if (calls.release()) {
                closeAll();
            }
        }
    }

    private void work(Waiter mine) {
        boolean readable = false;
        boolean probe = connected && calls.due() == 0;
        while (!calls.isClosed()) {
            long now = System.nanoTime();
            long expiry = calls.nextExpiry();
            if (expiry != Long.MAX_VALUE && now - expiry >= 0) {
                calls.expire(now, trouble);
            }
            if (mine != null && calls.over(mine, now, trouble)) {
                return;
            }
            long wakeAt = 0;
            if (!connected) {
                if (!calls.anyPending()) {
                    return;
                }
                try {
                    wakeAt = connect(now, false);
                } catch (AdderException failed) {
                    calls.failUnsent(failed);
                    continue;
                }
                if (connected) {
                    continue;
                }
            } else if (probe) { // idle until now: a server that closed it meanwhile is noticed before a request goes out
                probe = false;
                read();
                continue;
            } else if ((unsent() || calls.mayHaveUnsent()) && !write()) {
                continue;
            } else if (readable) {
                readable = read();
                continue;
            } else if (mine == null && !calls.backgroundGoesOn()) {
                return;
            } else if (mine != null && connected && calls.due() > 0 && busyPoll.poll(now) && (polling || takePoller())) {
                polling = true; // a caller's answer is due soon: it reads again rather than sleep and be woken
                readable = true;
                continue;
            }
            stopPolling();
            readable = await(now, wakeAt, mine);
        }
    }

    private static boolean takePoller() {
        for (int now = POLLERS.get(); now < MAX_POLLERS && CALLERS.get() <= CORES; now = POLLERS.get()) {
            if (POLLERS.compareAndSet(now, now + 1)) {
                return true;
            }
        }
        return false;
    }

    private void stopPolling() {
        if (polling) {
            polling = false;
            POLLERS.decrementAndGet();
        }
    }

    /** Waits for the socket or the nearest deadline; returns whether the socket became readable. */
    private boolean await(long now, long wakeAt, Waiter mine) {
        long until = wakeAt != 0 ? wakeAt : now + IDLE_WAIT_NANOS;
        if (mine != null) {
            until = earlier(until, mine.deadline);
        }
        long expiry = calls.nextExpiry();
        if (expiry != Long.MAX_VALUE) {
            until = earlier(until, expiry);
        }
        if (connected && calls.due() > 0) {
            until = earlier(until, now + DEFERRED_WRITE_NANOS); // callers may queue requests meanwhile
        }
        int want = !connected ? (channel == null ? 0 : tls != null ? tls.interestOps(0) : SelectionKey.OP_CONNECT)
                : SelectionKey.OP_READ | (out.hasRemaining() ? SelectionKey.OP_WRITE : 0);
        if (connected && tls != null) {
            want = tls.interestOps(want); // writable too while TLS records wait to go
        }
        try {
            if (key != null && key.interestOps() != want) {
                key.interestOps(want);
            }
            int ready;
            // then look for requests queued meanwhile (a caller that queues looks at this after), unless
            // the socket is full: then the wait is for writable too, whatever is queued
            selecting = true;
            try {
                ready = connected && !unsent() && calls.mayHaveUnsent() ? selector.selectNow()
                        : selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(until - now + 999_999)));
            } finally {
                selecting = false;
                nudged.set(false);
            }
            selector.selectedKeys().clear();
            return ready > 0 && connected && key.isValid() && key.isReadable();
        } catch (IOException e) {
            throw new AdderException("call to " + address + " failed: its selector failed: " + e.getMessage(), e);
        }
    }

    private static long earlier(long a, long b) {
        return b - a < 0 ? b : a;
    }

    /**
     * From a caller that queued a request and left it to the holder: a holder
     * in its selector with nothing due wakes to write it; once per wait, so
     * under load few callers pay the wake-up.
     */
    void nudge() {
        if (selecting && calls.due() == 0 && !nudged.getAndSet(true)) {
            wakeup();
        }
    }

    /** From close(): a holder waiting in its selector looks at the client again. */
    void wakeup() {
        selector.wakeup();
    }

    /** Whether bytes wait to go: requests taken from the line, or TLS records made of them. */
    private boolean unsent() {
        return out.hasRemaining() || tls != null && tls.unsentBytes() > 0;
    }

    /** Writes queued requests until none is left or the socket is full; false if the connection was lost. */
    private boolean write() {
        try {
            if (tls != null && !tls.flush()) {
                return true; // full: the next wait is for writable as well as readable
            }
            while (true) {
                if (!out.hasRemaining()) {
                    out.clear();
                    calls.fill(out);
                    out.flip();
                    if (!out.hasRemaining()) {
                        return true;
                    }
                }
                if (tls != null) {
                    tls.write(out);
                } else {
                    channel.write(out);
                }
                if (unsent()) {
                    return true; // full: the next wait is for writable as well as readable
                }
            }
        } catch (IOException e) {
            lost("call to " + address + " failed writing to the connection: " + Connector.reason(e), e);
            return false;
        }
    }

    /** One read and its answers; returns whether more may be waiting (the read filled the buffer). */
    private boolean read() {
        int n;
        try {
            n = tls != null ? tls.read(in) : channel.read(in);
        } catch (SSLException e) { // a fatal alert (TLS 1.3's refusal of a client certificate comes after the handshake)
            violated("call to " + address + " failed: the server ended TLS: " + Connector.reason(e));
            return false;
        } catch (IOException e) {
            lost("call to " + address + " failed reading from the connection: " + Connector.reason(e), e);
            return false;
        }
        if (n == 0) {
            return false;
        }
        if (n < 0) {
            int partial = in.position();
            lost(partial == 0 ? "the server closed the connection to " + address + " with calls in flight"
                    : "the server closed the connection to " + address + " in the middle of an answer ("
                            + partial + " of " + Protocol.RESPONSE_BYTES + " bytes)", null);
            return false;
        }
        boolean full = tls != null || !in.hasRemaining(); // a TLS read takes a few records: more may wait
        in.flip();
        try {
            if (calls.deliver(in) > 0) {
                busyPoll.foundWork(polling, System.nanoTime());
                if (losses > 0) {
                    losses = 0;
                    trouble = "";
                }
            }
        } catch (Line.Violation v) {
            violated("the server at " + address + " " + v.getMessage());
            return false;
        }
        in.compact();
        return full;
    }

    /**
     * The connection ended or failed. With nothing owed on it, the server
     * closed it while it was idle (a restart, an idle timeout): not a loss,
     * the next call connects again.
     */
    private void lost(String message, Throwable cause) {
        drop();
        if (calls.due() == 0) {
            return;
        }
        losses++;
        trouble = ": its connection was lost " + (losses == 1 ? "once" : losses + " times") + "; last failure: " + message;
        calls.lost(new AdderException(message, cause).as(FailureKind.LOST), replay);
        if (losses > 1) { // at once after one loss; then pauses from 1 ms, doubling, to 100 ms
            long pause = Math.min(Connector.LONGEST_PAUSE_NANOS, TimeUnit.MILLISECONDS.toNanos(1) << Math.min(20, losses - 2));
            pauseUntil = System.nanoTime() + pause;
        }
    }

    private void violated(String message) {
        drop();
        calls.lost(new AdderException(message, null).as(FailureKind.PROTOCOL), false); // never replayed
    }

    /**
     * Begins or goes on connecting; returns when to look again (0: connected,
     * or at once), or throws what the calls waiting for a connection fail
     * with. With {@code first} (the builder's connect), a server down fails.
     */
    private long connect(long now, boolean first) {
        try {
            if (channel == null) {
                if (pauseUntil != 0 && now - pauseUntil < 0) {
                    return pauseUntil;
                }
                pauseUntil = 0;
                channel = connector.open();
                key = channel.register(selector, SelectionKey.OP_CONNECT);
                connectDeadline = now + connector.timeoutNanos;
            }
            if (tls != null || channel.finishConnect()) {
                if (tls == null && !address.isUnix()) {
                    channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                }
                if (clientTls != null && !handshake()) {
                    return now - connectDeadline >= 0 ? timedOutConnecting() : connectDeadline;
                }
                connected = true;
                connector.connected();
                return 0;
            }
            return now - connectDeadline >= 0 ? timedOutConnecting() : connectDeadline;
        } catch (IOException e) {
            drop();
            pauseUntil = connector.retryAt(e, now, !replay || first);
            if (losses == 0) {
                trouble = ": last failure: " + connector.lastFailure();
            }
            return pauseUntil;
        }
    }

    private long timedOutConnecting() {
        drop();
        throw connector.timedOut(false);
    }

    /**
     * Begins or goes on with the TLS handshake, its tasks run here; returns whether it is done.
     * Part of connecting: its failures are a connect's, its time counts in the connect timeout.
     */
    private boolean handshake() throws IOException {
        if (tls == null) {
            tls = new TlsPipe(clientTls.newEngine(address), channel, tlsBuffers, null, null);
        }
        if (tls.read(in) < 0) {
            throw new SocketException("the server closed the connection in the TLS handshake");
        }
        tls.flush();
        if (tls.isEstablished()) {
            in.clear(); // a server sends nothing unasked: nothing of the handshake's reads is kept
            return true;
        }
        return false; // await() asks the key for what the handshake waits for
    }

    /** The builder's connect, before any call: a server down fails at once, a busy one is waited for. */
    void connectFirst() {
        while (!connected) {
            long now = System.nanoTime();
            long wakeAt = connect(now, true);
            if (!connected) {
                await(now, wakeAt, null);
            }
        }
    }

    /** Closes the connection (not the selector), forgetting what was half written or read. */
    private void drop() {
        if (tls != null) {
            tls.release();
            tls = null;
        }
        if (channel != null) {
            try {
                channel.close(); // cancels its key
            } catch (IOException e) {
                // dropped anyway
            }
        }
        channel = null;
        key = null;
        connected = false;
        out.clear().flip();
        in.clear();
    }

    /** The client is closed and the role is this thread's, for good: closes the connection and the selector. */
    void closeAll() {
        drop();
        try {
            selector.close();
        } catch (IOException e) {
            // nothing is left to release
        }
    }
}
