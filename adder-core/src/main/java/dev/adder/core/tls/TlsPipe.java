package dev.adder.core.tls;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;

/**
 * One TLS connection over a non-blocking socket: plain bytes in and out on
 * one side, TLS records on the socket on the other, the handshake driven by
 * whichever read or write comes. The server's connections and the client's
 * driver use it; public so that both modules can, not an API for
 * applications, and it may change in any release.
 *
 * <p>The invariant: records the peer sent that the engine has not taken yet
 * are in {@code received} (null when there are none: at most one unfinished
 * record, but for the records behind a handshake message whose task runs);
 * records the engine made that the socket has not taken yet are in
 * {@code unsent} (null when there are none); plain bytes are wrapped only
 * while {@code unsent} is null, so what it holds unsent stays about one
 * write's worth. Both are held only while they are not empty; the buffers a
 * read and a write pass through are the {@link TlsBuffers} it was given,
 * shared by every pipe of one thread.
 *
 * <p>A read takes from the socket at most as many bytes as {@code dst} has
 * room for: decrypted, a record is never longer than it was, so a read never
 * leaves decrypted bytes behind, and the socket's readiness is all an owner
 * needs to know when to read again. The engine's delegated tasks (the
 * handshake's costly steps) run on the executor given, if any, then
 * {@code tasksDone} is called on that executor's thread; until the owner
 * calls {@link #resume()} the pipe does nothing and asks for no readiness.
 * Without an executor they run at once, in the caller.
 *
 * <p>Under TLS 1.2 a second handshake (renegotiation) is refused: the read
 * that sees it fails. One thread at a time uses a pipe.
 */
public final class TlsPipe {

    /** The most a pipe holds unsent before it gives up on a peer that does not read: far above one write's worth. */
    static final int MAX_UNSENT_BYTES = 1024 * 1024;
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    private final SSLEngine engine;
    private final ByteChannel socket;
    private final TlsBuffers buffers;
    private final Executor tasks;
    private final Runnable tasksDone;
    private ByteBuffer received;
    private ByteBuffer unsent;
    private boolean tasksRunning;
    private boolean established;
    /** The peer's close_notify came, or its stream ended. */
    private boolean inputEnded;

    /**
     * A pipe over {@code socket}, its handshake begun.
     *
     * @param engine an engine set up as client or server, its handshake not begun
     * @param socket a connected non-blocking socket
     * @param buffers the buffers of the thread that uses the pipe
     * @param tasks where the engine's delegated tasks run; null to run them in the caller
     * @param tasksDone called on the executor's thread once a round of tasks ran; the owner then calls {@link #resume()}
     * @throws SSLException if the engine cannot begin
     */
    public TlsPipe(SSLEngine engine, ByteChannel socket, TlsBuffers buffers, Executor tasks, Runnable tasksDone)
            throws SSLException {
        this.engine = engine;
        this.socket = socket;
        this.buffers = buffers;
        this.tasks = tasks;
        this.tasksDone = tasksDone;
        buffers.fit(engine.getSession().getPacketBufferSize());
        engine.beginHandshake();
    }

    /**
     * Whether the handshake is done: plain bytes flow.
     *
     * @return true once the first handshake finished
     */
    public boolean isEstablished() {
        return established;
    }

    /**
     * The engine, to look at its session (the peer's certificates, the protocol).
     *
     * @return the engine
     */
    public SSLEngine engine() {
        return engine;
    }

    /**
     * Whether the peer's input has ended (close_notify, or the end of the stream), though a read may
     * have given bytes that came before the end: the next read gives -1.
     *
     * @return true once the input ended
     */
    public boolean inputEnded() {
        return inputEnded;
    }

    /**
     * The least room a read's destination must have: one whole record, decrypted, beside the records it holds.
     *
     * @return bytes
     */
    public int smallestRead() {
        return buffers.packetBytes() + (received == null ? 0 : received.position());
    }

    /**
     * Records made and not yet taken by the socket.
     *
     * @return bytes
     */
    public int unsentBytes() {
        return unsent == null ? 0 : unsent.remaining();
    }

    /**
     * Reads what the socket has, and gives the plain bytes it carries.
     *
     * @param dst where plain bytes go; it must have room for {@link #smallestRead()} at least
     * @return plain bytes read; 0 if none now (in the handshake, say); -1 once the peer closed its side
     * @throws IOException if the socket fails, or the peer breaks TLS (an {@link SSLException})
     */
    public int read(ByteBuffer dst) throws IOException {
        if (tasksRunning) {
            return 0;
        }
        if (inputEnded) {
            return -1;
        }
        ByteBuffer in = buffers.in;
        in.clear();
        if (received != null) {
            received.flip();
            in.put(received);
            buffers.give(received);
            received = null;
        }
        int room = Math.min(in.remaining(), dst.remaining() - in.position());
        boolean ended = false;
        if (room > 0) {
            int limit = in.limit();
            in.limit(in.position() + room);
            try {
                ended = socket.read(in) < 0;
            } finally {
                in.limit(limit);
            }
        }
        in.flip();
        int produced;
        try {
            produced = unwrapAll(in, dst);
        } catch (SSLException e) { // a failure ends the pipe: nothing is kept then
            sendAlert();
            throw e;
        }
        if (in.hasRemaining() && !inputEnded) {
            // an unfinished record; or, when a task stopped the unwrapping, whole records too, which may be more
            received = in.remaining() <= buffers.packetBytes() ? buffers.take() : ByteBuffer.allocate(in.remaining());
            received.put(in);
        }
        if (produced > 0) {
            inputEnded |= ended;
            return produced;
        }
        if (ended) {
            inputEnded = true; // a stream cut without close_notify ends as a plain one does; an unfinished record is dropped
        }
        return inputEnded ? -1 : 0;
    }

    /** Unwraps every whole record of {@code in}, doing what the handshake asks between them; returns the plain bytes made. */
    private int unwrapAll(ByteBuffer in, ByteBuffer dst) throws IOException {
        int produced = 0;
        while (true) {
            HandshakeStatus status = engine.getHandshakeStatus();
            if (status == HandshakeStatus.NEED_TASK) {
                runTasks();
                if (tasksRunning) {
                    return produced;
                }
                continue;
            }
            if (status == HandshakeStatus.NEED_WRAP) {
                wrapHandshake();
                continue;
            }
            if (!in.hasRemaining()) {
                return produced;
            }
            SSLEngineResult result = engine.unwrap(in, dst);
            produced += result.bytesProduced();
            after(result.getHandshakeStatus());
            switch (result.getStatus()) {
                case BUFFER_UNDERFLOW:
                    return produced; // an unfinished record: the rest comes with a later read
                case BUFFER_OVERFLOW:
                    // the engine asks room for the length a record's header gives before it has the whole
                    // record: an unfinished one waits for a later read, as for an underflow
                    if (!wholeRecordAt(in)) {
                        return produced;
                    }
                    throw new SSLException("a TLS record is longer than the " + dst.remaining() + " bytes of room left");
                case CLOSED:
                    inputEnded = true;
                    if (engine.getHandshakeStatus() == HandshakeStatus.NEED_WRAP) {
                        wrapHandshake(); // TLS 1.2 answers close_notify with its own
                    }
                    return produced;
                default:
                    if (result.bytesConsumed() == 0 && result.bytesProduced() == 0
                            && engine.getHandshakeStatus() == HandshakeStatus.NEED_UNWRAP) {
                        return produced;
                    }
            }
        }
    }

    /** Whether {@code in} holds a whole record from its position: the 5-byte header and the length it gives. */
    private static boolean wholeRecordAt(ByteBuffer in) {
        if (in.remaining() < 5) {
            return false;
        }
        int length = (in.get(in.position() + 3) & 0xff) << 8 | in.get(in.position() + 4) & 0xff;
        return in.remaining() >= 5 + length;
    }

    /** What an operation's result says of the handshake: it finished, or (after it, under TLS 1.2) it would begin again. */
    private void after(HandshakeStatus status) throws SSLException {
        if (status == HandshakeStatus.FINISHED) {
            established = true;
        } else if (established && status != HandshakeStatus.NOT_HANDSHAKING && !engine.isInboundDone()
                && !engine.isOutboundDone() && !"TLSv1.3".equals(engine.getSession().getProtocol())) {
            throw new SSLHandshakeException("renegotiation refused");
        }
    }

    private void runTasks() throws IOException {
        if (tasks == null) {
            for (Runnable task = engine.getDelegatedTask(); task != null; task = engine.getDelegatedTask()) {
                task.run();
            }
            return;
        }
        tasksRunning = true;
        try {
            tasks.execute(() -> {
                try {
                    for (Runnable task = engine.getDelegatedTask(); task != null; task = engine.getDelegatedTask()) {
                        task.run();
                    }
                } finally {
                    tasksDone.run();
                }
            });
        } catch (RejectedExecutionException e) {
            tasksRunning = false;
            throw new SSLException("too many TLS handshakes at once", e);
        }
    }

    /** After a failure, the engine has the alert that tells the peer why: sent if the socket takes it now. */
    private void sendAlert() {
        try {
            engine.closeOutbound();
            wrapHandshake();
        } catch (IOException | RuntimeException alsoFailed) {
            // the peer learns of it as the connection closes
        }
    }

    /** The tasks that {@code tasksDone} reported ran: the pipe may go on. The owner's thread calls it. */
    public void resume() {
        tasksRunning = false;
    }

    /** Wraps what the handshake (or a close) has to send, and sends what the socket takes. */
    private void wrapHandshake() throws IOException {
        ByteBuffer out = buffers.out;
        out.clear();
        while (engine.getHandshakeStatus() == HandshakeStatus.NEED_WRAP) {
            if (out.remaining() < buffers.packetBytes()) {
                out.flip();
                send(out);
                out.clear();
            }
            SSLEngineResult result = engine.wrap(EMPTY, out);
            after(result.getHandshakeStatus());
            if (result.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                throw new SSLException("a TLS handshake record does not fit in " + out.capacity() + " bytes");
            }
            if (result.getStatus() == SSLEngineResult.Status.CLOSED || result.bytesProduced() == 0) {
                break;
            }
        }
        out.flip();
        send(out);
    }

    /**
     * Writes plain bytes: sends first what it holds unsent, then, only if that all went, wraps as
     * many of {@code srcs} as one write takes and sends them; holds the records the socket did not take.
     *
     * @param srcs the plain bytes
     * @param offset the first buffer
     * @param length how many buffers
     * @return plain bytes taken (0 in the handshake, or while records wait to go)
     * @throws IOException if the socket fails, or the session is closed
     */
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        if (!flush() || !established || tasksRunning) {
            return 0;
        }
        ByteBuffer out = buffers.out;
        out.clear();
        long taken = 0;
        while (out.remaining() >= buffers.packetBytes() && hasRemaining(srcs, offset, length)) {
            SSLEngineResult result = engine.wrap(srcs, offset, length, out);
            after(result.getHandshakeStatus());
            if (result.getStatus() == SSLEngineResult.Status.CLOSED) {
                throw new ClosedChannelException();
            }
            taken += result.bytesConsumed();
            if (result.bytesConsumed() == 0 || engine.getHandshakeStatus() != HandshakeStatus.NOT_HANDSHAKING) {
                break; // a post-handshake message (TLS 1.3's key update) is for the next read to handle
            }
        }
        out.flip();
        send(out);
        return taken;
    }

    /**
     * {@link #write(ByteBuffer[], int, int)} of one buffer.
     *
     * @param src the plain bytes
     * @return plain bytes taken
     * @throws IOException as that method does
     */
    public int write(ByteBuffer src) throws IOException {
        ByteBuffer[] one = buffers.one;
        one[0] = src;
        try {
            return (int) write(one, 0, 1);
        } finally {
            one[0] = null;
        }
    }

    private static boolean hasRemaining(ByteBuffer[] srcs, int offset, int length) {
        for (int i = offset; i < offset + length; i++) {
            if (srcs[i].hasRemaining()) {
                return true;
            }
        }
        return false;
    }

    /** Sends {@code records} after what is unsent; holds what the socket does not take. */
    private void send(ByteBuffer records) throws IOException {
        if (!records.hasRemaining()) {
            return;
        }
        if (unsent == null) {
            socket.write(records);
            if (records.hasRemaining()) {
                unsent = ByteBuffer.allocate(records.remaining()).put(records).flip();
            }
            return;
        }
        if (unsent.remaining() + records.remaining() > MAX_UNSENT_BYTES) {
            throw new SSLException("the peer does not read: " + unsent.remaining() + " bytes of TLS records unsent");
        }
        unsent = ByteBuffer.allocate(unsent.remaining() + records.remaining()).put(unsent).put(records).flip();
        flush();
    }

    /**
     * Sends what it holds unsent.
     *
     * @return true if nothing is left unsent
     * @throws IOException if the socket fails
     */
    public boolean flush() throws IOException {
        if (unsent == null) {
            return true;
        }
        socket.write(unsent);
        if (unsent.hasRemaining()) {
            return false;
        }
        unsent = null;
        return true;
    }

    /**
     * The readiness to wait for, given what its owner wants of plain bytes:
     * none while tasks run; writable while records wait to go; in the
     * handshake, readable when the engine waits for the peer.
     *
     * @param wanted what the owner wants: {@link SelectionKey#OP_READ}, {@link SelectionKey#OP_WRITE}, both or neither
     * @return the operations to wait for
     */
    public int interestOps(int wanted) {
        if (tasksRunning) {
            return 0;
        }
        int ops = unsent != null ? SelectionKey.OP_WRITE : 0;
        if (established) {
            return ops | wanted;
        }
        return engine.getHandshakeStatus() == HandshakeStatus.NEED_UNWRAP && !inputEnded ? ops | SelectionKey.OP_READ : ops;
    }

    /**
     * Ends the output with close_notify, sent now if the socket takes it, else held unsent.
     *
     * @throws IOException if the socket fails
     */
    public void closeOutput() throws IOException {
        engine.closeOutbound();
        wrapHandshake();
    }

    /** Gives back the buffers it holds: the socket is closing. Tries nothing more on it. */
    public void release() {
        if (received != null) {
            buffers.give(received);
            received = null;
        }
        unsent = null;
        engine.closeOutbound();
    }
}
