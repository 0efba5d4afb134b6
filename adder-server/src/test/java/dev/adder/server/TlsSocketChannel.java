package dev.adder.server;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketOption;
import java.nio.ByteBuffer;
import java.nio.channels.AlreadyConnectedException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SocketChannel;
import java.util.Set;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;

/**
 * A TLS client as a {@link SocketChannel}: what the suites written for a plain socket do to
 * {@link RawClient#channel} (blocking and non-blocking reads and writes from two threads, shutdown of
 * the output, socket options) they do through this to a real socket, with the JDK's
 * {@link SSLEngine} in between; an implementation of TLS apart from the server's own.
 *
 * <p>The handshake is done when it is made, blocking. A handshake that fails does not throw there:
 * the server refusing a connection (over its limit) closes it before any handshake, and the suites
 * expect to read the end of the stream then; so a handshake cut by the end of the stream makes every
 * read return -1, and a TLS failure makes every read and write throw it.
 *
 * <p>A write wraps at most one record at a time, and only once the last one went whole to the
 * socket: not blocking, it returns 0 while a record waits, as a full socket's write does, and the
 * plain bytes whose records the socket took whole are {@link #deliveredBytes()}. Output shut down
 * ({@link #shutdownOutput()}) is a close_notify, then the socket's FIN; reading goes on (TLS 1.3's
 * half-close). {@link #close()} sends nothing: it closes the socket (with SO_LINGER 0, a reset), as
 * a client that goes away does, and it must never wait on a peer that does not read.
 *
 * <p>It cannot be registered with a selector (the JDK's selectors take their own channels only):
 * register {@link #socket(SocketChannel)} for readiness instead, and read until a read returns 0.
 */
final class TlsSocketChannel extends SocketChannel {

    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    private final SocketChannel socket;
    private final SSLEngine engine;
    private final Object readLock = new Object();
    private final Object writeLock = new Object();
    /** Records received and not yet unwrapped (write mode). */
    private final ByteBuffer netIn;
    /** Plain bytes unwrapped and not yet read (write mode): unwrapped into only when empty. */
    private final ByteBuffer appIn;
    /** Records wrapped and not yet sent (read mode). */
    private final ByteBuffer netOut;
    private boolean inputEnded;
    private boolean outputShut;
    private IOException failure;
    private long wrappedBytes;
    private int lastRecordBytes;

    private TlsSocketChannel(SocketChannel socket, SSLEngine engine) {
        super(socket.provider());
        this.socket = socket;
        this.engine = engine;
        int packet = engine.getSession().getPacketBufferSize();
        this.netIn = ByteBuffer.allocate(2 * packet);
        this.appIn = ByteBuffer.allocate(engine.getSession().getApplicationBufferSize());
        this.netOut = ByteBuffer.allocate(2 * packet).flip();
    }

    /**
     * TLS over {@code socket}, connected and blocking, to {@code host}, whose certificate must
     * name it; the handshake done (or failed, see the class comment) when it returns.
     */
    static TlsSocketChannel over(SocketChannel socket, SSLContext context, String host, String... protocols)
            throws IOException {
        int port = ((InetSocketAddress) socket.getRemoteAddress()).getPort();
        SSLEngine engine = context.createSSLEngine(host, port);
        engine.setUseClientMode(true);
        SSLParameters parameters = engine.getSSLParameters();
        parameters.setEndpointIdentificationAlgorithm("HTTPS");
        if (protocols.length > 0) {
            parameters.setProtocols(protocols);
        }
        engine.setSSLParameters(parameters);
        TlsSocketChannel channel = new TlsSocketChannel(socket, engine);
        channel.handshake();
        return channel;
    }

    /** The real socket under {@code channel}, to register with a selector; a plain channel itself. */
    static SelectableChannel socket(SocketChannel channel) {
        return channel instanceof TlsSocketChannel tls ? tls.socket : channel;
    }

    /** The engine, to look at the session. */
    SSLEngine engine() {
        return engine;
    }

    /** Plain bytes written whose records the socket took whole: what the server can have received. */
    long deliveredBytes() {
        synchronized (writeLock) {
            return wrappedBytes - (netOut.hasRemaining() ? lastRecordBytes : 0);
        }
    }

    private void handshake() throws IOException {
        try {
            engine.beginHandshake();
            while (true) {
                HandshakeStatus status = engine.getHandshakeStatus();
                if (status == HandshakeStatus.NEED_TASK) {
                    runTasks();
                } else if (status == HandshakeStatus.NEED_WRAP) {
                    synchronized (writeLock) {
                        wrapHandshake();
                    }
                } else if (status == HandshakeStatus.NEED_UNWRAP || status == HandshakeStatus.NEED_UNWRAP_AGAIN) {
                    synchronized (readLock) {
                        if (!unwrapOnce()) {
                            inputEnded = true; // cut before it finished: the server closed it
                            return;
                        }
                    }
                } else {
                    return;
                }
            }
        } catch (SSLException e) {
            failure = e;
        } catch (IOException e) {
            inputEnded = true; // reset before it finished: the suites read that as the end too
        }
    }

    /** One unwrap into {@code appIn}, reading first if a record is unfinished; false at end of stream. */
    private boolean unwrapOnce() throws IOException {
        while (true) {
            netIn.flip();
            SSLEngineResult result;
            try {
                result = engine.unwrap(netIn, appIn);
            } finally {
                netIn.compact();
            }
            switch (result.getStatus()) {
                case BUFFER_UNDERFLOW -> {
                    int n = socket.read(netIn);
                    if (n < 0) {
                        return false;
                    }
                    if (n == 0) {
                        return true; // not blocking: nothing more now
                    }
                }
                case CLOSED -> {
                    inputEnded = true;
                    afterUnwrap(result);
                    return true;
                }
                case BUFFER_OVERFLOW -> throw new SSLException("a record longer than " + appIn.remaining() + " bytes");
                default -> {
                    afterUnwrap(result);
                    return true;
                }
            }
        }
    }

    /** What an unwrap leaves the handshake needing (a post-handshake message's answer), done now. */
    private void afterUnwrap(SSLEngineResult result) throws IOException {
        HandshakeStatus status = result.getHandshakeStatus();
        while (status == HandshakeStatus.NEED_TASK || status == HandshakeStatus.NEED_WRAP) {
            if (status == HandshakeStatus.NEED_TASK) {
                runTasks();
            } else {
                synchronized (writeLock) {
                    wrapHandshake();
                }
            }
            status = engine.getHandshakeStatus();
        }
    }

    private void runTasks() {
        for (Runnable task = engine.getDelegatedTask(); task != null; task = engine.getDelegatedTask()) {
            task.run();
        }
    }

    /** Wraps and sends, whatever the mode, what the engine has to say (handshake, close_notify). */
    private void wrapHandshake() throws IOException {
        while (engine.getHandshakeStatus() == HandshakeStatus.NEED_WRAP) {
            flushFully();
            netOut.clear();
            SSLEngineResult result = engine.wrap(EMPTY, netOut);
            netOut.flip();
            lastRecordBytes = 0;
            flushFully();
            if (result.getStatus() == SSLEngineResult.Status.CLOSED || result.bytesProduced() == 0) {
                return;
            }
        }
    }

    /** Sends what waits even if the socket does not block; for handshakes and close_notify, which are small. */
    private void flushFully() throws IOException {
        while (netOut.hasRemaining()) {
            if (socket.write(netOut) == 0) {
                Thread.onSpinWait();
            }
        }
    }

    /** Sends what waits, as far as the socket takes it; whether all went. */
    private boolean flush() throws IOException {
        while (netOut.hasRemaining()) {
            if (socket.write(netOut) == 0) {
                return false;
            }
        }
        return true;
    }

    private void checkFailure() throws IOException {
        if (failure != null) {
            throw new IOException("the TLS handshake failed: " + failure, failure);
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        synchronized (readLock) {
            checkFailure();
            while (true) {
                if (appIn.position() > 0) {
                    appIn.flip();
                    int n = Math.min(appIn.remaining(), dst.remaining());
                    ByteBuffer part = appIn.duplicate();
                    part.limit(part.position() + n);
                    dst.put(part);
                    appIn.position(appIn.position() + n);
                    appIn.compact();
                    return n;
                }
                if (inputEnded) {
                    return -1;
                }
                int before = netIn.position();
                if (!unwrapOnce()) {
                    inputEnded = true; // the stream ended without close_notify: an end all the same
                    return -1;
                }
                if (appIn.position() == 0 && !inputEnded && netIn.position() == before && !isBlocking()) {
                    return 0; // nothing came
                }
            }
        }
    }

    @Override
    public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
        for (int i = offset; i < offset + length; i++) {
            if (dsts[i].hasRemaining()) {
                return read(dsts[i]);
            }
        }
        return 0;
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
        return (int) write(new ByteBuffer[] {src}, 0, 1);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        synchronized (writeLock) {
            checkFailure();
            if (outputShut) {
                throw new ClosedChannelException();
            }
            long taken = 0;
            while (remaining(srcs, offset, length) > 0 && flush()) {
                netOut.clear();
                SSLEngineResult result = engine.wrap(srcs, offset, length, netOut);
                netOut.flip();
                if (result.getStatus() == SSLEngineResult.Status.CLOSED) {
                    throw new ClosedChannelException();
                }
                lastRecordBytes = result.bytesConsumed();
                wrappedBytes += lastRecordBytes;
                taken += lastRecordBytes;
                if (result.bytesConsumed() == 0) {
                    break;
                }
            }
            flush();
            return taken;
        }
    }

    private static long remaining(ByteBuffer[] srcs, int offset, int length) {
        long sum = 0;
        for (int i = offset; i < offset + length; i++) {
            sum += srcs[i].remaining();
        }
        return sum;
    }

    /** A close_notify, then the socket's FIN; what is not sent yet is sent first, blocking or not. */
    @Override
    public SocketChannel shutdownOutput() throws IOException {
        synchronized (writeLock) {
            if (!outputShut) {
                outputShut = true;
                flushFully();
                engine.closeOutbound();
                wrapHandshake();
                socket.shutdownOutput();
            }
        }
        return this;
    }

    @Override
    public SocketChannel shutdownInput() throws IOException {
        socket.shutdownInput();
        return this;
    }

    @Override
    protected void implCloseSelectableChannel() throws IOException {
        socket.close();
    }

    @Override
    protected void implConfigureBlocking(boolean block) throws IOException {
        socket.configureBlocking(block);
    }

    @Override
    public SocketChannel bind(SocketAddress local) throws IOException {
        throw new AlreadyConnectedException();
    }

    @Override
    public <T> SocketChannel setOption(SocketOption<T> name, T value) throws IOException {
        socket.setOption(name, value);
        return this;
    }

    @Override
    public <T> T getOption(SocketOption<T> name) throws IOException {
        return socket.getOption(name);
    }

    @Override
    public Set<SocketOption<?>> supportedOptions() {
        return socket.supportedOptions();
    }

    /** Not offered: a stream of the plain socket would go round TLS. */
    @Override
    public Socket socket() {
        throw new UnsupportedOperationException("a TLS test channel has no plain socket to offer");
    }

    @Override
    public boolean isConnected() {
        return socket.isConnected();
    }

    @Override
    public boolean isConnectionPending() {
        return false;
    }

    @Override
    public boolean connect(SocketAddress remote) {
        throw new AlreadyConnectedException();
    }

    @Override
    public boolean finishConnect() {
        return true;
    }

    @Override
    public SocketAddress getRemoteAddress() throws IOException {
        return socket.getRemoteAddress();
    }

    @Override
    public SocketAddress getLocalAddress() throws IOException {
        return socket.getLocalAddress();
    }

    @Override
    public String toString() {
        return "TLS over " + socket;
    }
}
