package dev.adder.server;

import dev.adder.core.tls.TlsPipe;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A connection's channel under TLS: plain bytes to and from its
 * {@link Connection}, records on the socket, through a {@link TlsPipe}. The
 * handshake runs as reads and writes come, its costly steps on the server's
 * TLS threads, after which the loop takes it up again. The readiness asked
 * of the selector is what the pipe needs besides what the connection wants.
 *
 * <p>The invariant: it counts among the server's handshakes in progress
 * from its making until {@link #handshakeEnded} (established, failed,
 * timed out or closed), exactly once. Loop thread only, but for the task
 * callback, which goes through the loop.
 */
final class TlsConnectionChannel implements ConnectionChannel {

    private static final Logger log = LoggerFactory.getLogger(TlsConnectionChannel.class);

    private final SocketConnectionChannel socket;
    private final TlsPipe pipe;
    private final LoopTls loopTls;
    private final long startedNanos;
    private Connection connection;
    /** Its place in the loop's line of handshakes to time; null once the handshake ended. */
    private LoopTls.Handshake timing;
    /** What the connection last asked for. */
    private int wanted = SelectionKey.OP_READ;
    /** The output is to end: once the close_notify is sent, the socket's output is shut down. */
    private boolean shutdownWhenFlushed;
    private boolean handshakeEnded;

    TlsConnectionChannel(SocketChannel channel, LoopTls loopTls, long now) throws SSLException {
        this.socket = new SocketConnectionChannel(channel, true);
        this.loopTls = loopTls;
        this.startedNanos = now;
        this.pipe = new TlsPipe(loopTls.shared.newEngine(), channel, loopTls.buffers, loopTls.shared.tasks,
                () -> loopTls.loop.execute(this::tasksDone));
    }

    /** The connection this channel serves; set once, right after both are made. */
    void servedBy(Connection served) {
        this.connection = served;
        this.timing = loopTls.begun(this, startedNanos);
    }

    /** On the loop, once the handshake's tasks ran: it goes on where it stopped. */
    private void tasksDone() {
        pipe.resume();
        if (connection != null && !connection.isClosed()) {
            connection.onReady(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
            checkHandshake();
        }
    }

    @Override
    public void registeredAs(SelectionKey key) {
        socket.registeredAs(key);
    }

    @Override
    public int read(ByteBuffer into) throws IOException {
        try {
            return pipe.read(into);
        } finally {
            checkHandshake();
        }
    }

    @Override
    public int smallestRead() {
        return pipe.smallestRead();
    }

    @Override
    public int write(ByteBuffer from) throws IOException {
        try {
            return pipe.write(from);
        } finally {
            afterWrite();
        }
    }

    @Override
    public long write(ByteBuffer[] from, int offset, int length) throws IOException {
        try {
            return pipe.write(from, offset, length);
        } finally {
            afterWrite();
        }
    }

    @Override
    public long write(ByteBuffer[] from) throws IOException {
        return write(from, 0, from.length);
    }

    @Override
    public boolean inputEnded() {
        return pipe.inputEnded();
    }

    @Override
    public boolean inHandshake() {
        return !handshakeEnded;
    }

    @Override
    public int heldBytes() {
        return pipe.unsentBytes();
    }

    @Override
    public boolean flushHeld() throws IOException {
        int before = pipe.unsentBytes();
        try {
            pipe.flush();
        } finally {
            afterWrite();
        }
        return pipe.unsentBytes() != before;
    }

    private void afterWrite() throws IOException {
        if (shutdownWhenFlushed && pipe.unsentBytes() == 0) {
            shutdownWhenFlushed = false;
            socket.shutdownOutput();
        }
        checkHandshake();
    }

    /** Ends the output with close_notify; the socket's output is shut down once that is sent. */
    @Override
    public void shutdownOutput() throws IOException {
        pipe.closeOutput();
        shutdownWhenFlushed = true;
        afterWrite();
    }

    @Override
    public boolean isOpen() {
        return socket.isOpen();
    }

    /** Closes at once: a close_notify is sent if the socket takes it now, nothing is waited for. */
    @Override
    public void close() {
        if (socket.isOpen() && pipe.isEstablished() && !shutdownWhenFlushed) {
            try {
                pipe.closeOutput();
            } catch (IOException | RuntimeException e) {
                log.debug("no close_notify sent: {}", e.toString());
            }
        }
        pipe.release();
        socket.close();
        endHandshake();
    }

    @Override
    public void interest(int ops) {
        wanted = ops;
        socket.interest(pipe.interestOps(ops));
    }

    @Override
    public void acknowledgeAtOnce() {
        socket.acknowledgeAtOnce();
    }

    /** After each step: a handshake that just finished stops counting, and the readiness follows the pipe. */
    private void checkHandshake() {
        if (!handshakeEnded && pipe.isEstablished()) {
            endHandshake();
            if (connection != null) {
                connection.handshakeDone();
            }
            log.debug("{}: TLS established ({}, {})", connection, pipe.engine().getSession().getProtocol(),
                    pipe.engine().getSession().getCipherSuite());
        }
        if (socket.isOpen()) {
            socket.interest(pipe.interestOps(wanted));
        }
    }

    private void endHandshake() {
        if (!handshakeEnded) {
            handshakeEnded = true;
            loopTls.ended();
            if (timing != null) {
                timing.channel = null;
                timing = null;
            }
        }
    }

    /** The handshake took too long: the connection closes. */
    void timedOut() {
        if (!handshakeEnded && connection != null) {
            loopTls.timedOut(connection);
            connection.close();
        }
    }
}
