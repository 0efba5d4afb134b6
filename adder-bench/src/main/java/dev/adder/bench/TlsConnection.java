package dev.adder.bench;

import dev.adder.core.AdderAddress;
import dev.adder.core.tls.TlsFiles;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;
import java.io.EOFException;
import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSession;

/**
 * The load tools' side of one TLS connection: a client {@link SSLEngine}
 * over a {@link SocketChannel}, blocking while it connects and handshakes,
 * then blocking or not as its user sets it. Written for the bench alone, so
 * that the instrument that measures Adder's TLS shares none of Adder's TLS
 * code (its {@code TlsPipe}).
 *
 * <p>The invariant: {@code left} holds the bytes of an unfinished record the
 * socket gave (none when {@code leftBytes} is false), {@code held} the
 * records the socket did not take yet (null when none). Reads and writes of
 * all the connections of one thread go through that thread's {@link Scratch}.
 * A read decrypts every whole record it read into the caller's buffer, so the
 * engine never keeps plain bytes back and the socket's readiness is all a
 * selector needs to know.
 *
 * <p>Each connection makes a full handshake: its engine is made without the
 * peer's name, so the client looks up no session to resume (and checks the
 * server's certificate against the CAs alone, not its name), unless
 * {@link Client#resume} says otherwise.
 *
 * <p>The engine is BoringSSL's through netty-tcnative ({@code openssl}, the
 * default) or the JDK's ({@code jdk}). The load's side of a TLS exchange
 * costs about what the server's does, so with the server and the load on one
 * core each, the cheaper engine is what keeps the load from being the limit.
 */
final class TlsConnection {

    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    /** What a run's connections share: the context that trusts the CAs given, the suites asked for. */
    static final class Client {
        /** The JDK's context, for {@code jdk}; null for {@code openssl}. */
        private final SSLContext jdk;
        /** Netty's context over BoringSSL, for {@code openssl}; null for {@code jdk}. */
        private final SslContext openssl;
        /** Cipher suites to offer, or null for the engine's defaults. */
        final String[] cipherSuites;
        /** Whether a new connection may resume a session of an earlier one (engines made with the peer's name). */
        final boolean resume;

        private Client(SSLContext jdk, SslContext openssl, String[] cipherSuites, boolean resume) {
            this.jdk = jdk;
            this.openssl = openssl;
            this.cipherSuites = cipherSuites;
            this.resume = resume;
        }

        /**
         * Trusting the CAs of a PEM file.
         *
         * @param engine {@code openssl} or {@code jdk}
         * @param cipherSuites comma-separated, or null for the engine's defaults
         */
        static Client trusting(Path ca, String engine, String cipherSuites, boolean resume) throws IOException {
            String[] suites = cipherSuites == null ? null : cipherSuites.split(",");
            switch (engine) {
                case "jdk":
                    SSLContext context = TlsFiles.trustContext(ca);
                    if (!resume) {
                        // it would keep every session it is given, by its id, for nothing (and bound only by
                        // soft references, which makes a client's own heap jump about)
                        context.getClientSessionContext().setSessionCacheSize(1);
                    }
                    return new Client(context, null, suites, resume);
                case "openssl":
                    if (!OpenSsl.isAvailable()) {
                        throw new IOException("OpenSSL (netty-tcnative) is not available here: use --tls-engine jdk",
                                OpenSsl.unavailabilityCause());
                    }
                    if (suites != null) {
                        // BoringSSL's TLS 1.3 suites are fixed: a list would go unheeded, and the run mislabelled
                        throw new IllegalArgumentException("BoringSSL's TLS 1.3 cipher suites cannot be chosen:"
                                + " --tls-ciphers needs --tls-engine jdk");
                    }
                    SslContextBuilder builder = SslContextBuilder.forClient().sslProvider(SslProvider.OPENSSL)
                            .trustManager(ca.toFile()).protocols("TLSv1.3", "TLSv1.2")
                            // as the JDK's engine made without the peer's name: the CAs alone are checked
                            .endpointIdentificationAlgorithm(resume ? "HTTPS" : null);
                    return new Client(null, builder.build(), null, resume);
                default:
                    throw new IllegalArgumentException("the TLS engine is openssl or jdk, not " + engine);
            }
        }

        /** The JDK's context, for a tool that makes JDK sockets; fails for an {@code openssl} client. */
        SSLContext jdkContext() {
            if (jdk == null) {
                throw new IllegalArgumentException("JDK sockets need --tls-engine jdk");
            }
            return jdk;
        }

        SSLEngine newEngine(AdderAddress address) {
            SSLEngine engine;
            if (openssl != null) {
                engine = resume ? openssl.newEngine(ByteBufAllocator.DEFAULT, address.host(), address.port())
                        : openssl.newEngine(ByteBufAllocator.DEFAULT);
                engine.setUseClientMode(true);
                return engine;
            }
            engine = resume ? jdk.createSSLEngine(address.host(), address.port()) : jdk.createSSLEngine();
            engine.setUseClientMode(true);
            SSLParameters parameters = engine.getSSLParameters();
            parameters.setProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
            if (cipherSuites != null) {
                parameters.setCipherSuites(cipherSuites);
            }
            engine.setSSLParameters(parameters);
            return engine;
        }

        /** Connects, blocking, and makes the handshake; the channel is left blocking. */
        TlsConnection connect(AdderAddress address, Scratch scratch) throws IOException {
            SocketChannel channel = SocketChannel.open();
            SSLEngine engine = null;
            try {
                channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                channel.connect(address.toSocketAddress());
                engine = newEngine(address);
                TlsConnection connection = new TlsConnection(channel, engine, scratch);
                connection.handshake();
                return connection;
            } catch (IOException | RuntimeException e) {
                channel.close();
                ReferenceCountUtil.release(engine);
                throw e;
            }
        }
    }

    /** The buffers one thread's connections pass records through: a read's and a write's worth, and a plain one for the handshake. */
    static final class Scratch {
        ByteBuffer in;
        ByteBuffer out;
        ByteBuffer plain;
        int packetBytes;

        /** Sized at the first engine, grown if a later one needs more. */
        void fit(SSLSession session) {
            int packet = session.getPacketBufferSize();
            if (packet > packetBytes) {
                packetBytes = packet;
                in = ByteBuffer.allocateDirect(4 * packet);
                out = ByteBuffer.allocateDirect(4 * packet);
                plain = ByteBuffer.allocate(session.getApplicationBufferSize());
            }
        }
    }

    final SocketChannel channel;
    final SSLEngine engine;
    private final Scratch scratch;
    private ByteBuffer left;
    private boolean leftBytes;
    private ByteBuffer held;
    private boolean closed;

    private TlsConnection(SocketChannel channel, SSLEngine engine, Scratch scratch) {
        this.channel = channel;
        this.engine = engine;
        this.scratch = scratch;
        scratch.fit(engine.getSession());
    }

    /** The protocol and suite agreed, and the client's engine, e.g. {@code TLSv1.3/TLS_AES_256_GCM_SHA384/openssl}. */
    String describe() {
        SSLSession session = engine.getSession();
        return session.getProtocol() + "/" + session.getCipherSuite() + "/"
                + (engine.getClass().getName().startsWith("io.netty") ? "openssl" : "jdk");
    }

    /** The handshake, on the blocking channel. */
    private void handshake() throws IOException {
        engine.beginHandshake();
        ByteBuffer in = scratch.in.clear();
        while (true) {
            switch (engine.getHandshakeStatus()) {
                case NEED_WRAP -> {
                    ByteBuffer out = scratch.out.clear();
                    SSLEngineResult result = engine.wrap(EMPTY, out);
                    out.flip();
                    while (out.hasRemaining()) {
                        channel.write(out);
                    }
                    if (result.getStatus() == SSLEngineResult.Status.CLOSED) {
                        throw new SSLException("the engine closed in the handshake");
                    }
                }
                case NEED_TASK -> runTasks();
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    in.flip();
                    SSLEngineResult result = engine.unwrap(in, scratch.plain.clear());
                    in.compact();
                    switch (result.getStatus()) {
                        case BUFFER_UNDERFLOW -> {
                            if (channel.read(in) < 0) {
                                throw new EOFException("the server closed the connection in the TLS handshake");
                            }
                        }
                        case CLOSED -> throw new SSLException("the server closed TLS in the handshake");
                        case BUFFER_OVERFLOW -> throw new SSLException("no room for a handshake record");
                        default -> {
                            // a step done; the status says what next
                        }
                    }
                }
                default -> {
                    // NOT_HANDSHAKING: done; what came after the handshake's last record waits for the first read
                    in.flip();
                    keep(in);
                    return;
                }
            }
        }
    }

    private void runTasks() {
        for (Runnable task = engine.getDelegatedTask(); task != null; task = engine.getDelegatedTask()) {
            task.run();
        }
    }

    /**
     * Reads what the socket has (blocking, if the channel blocks) and decrypts every whole record
     * of it into {@code dst}, which must have room for all of them.
     *
     * @return plain bytes read, 0 if none (a record unfinished, or one that carried none), -1 at the end
     */
    int read(ByteBuffer dst) throws IOException {
        ByteBuffer in = scratch.in.clear();
        if (leftBytes) {
            in.put(left);
            leftBytes = false;
        }
        int n = channel.read(in);
        in.flip();
        int produced = 0;
        boolean closed = false;
        while (in.hasRemaining()) {
            SSLEngineResult result = engine.unwrap(in, dst);
            produced += result.bytesProduced();
            SSLEngineResult.Status status = result.getStatus();
            if (status == SSLEngineResult.Status.BUFFER_UNDERFLOW) {
                break;
            }
            if (status == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                throw new SSLException("no room for a record's " + engine.getSession().getApplicationBufferSize()
                        + " bytes: " + dst.remaining() + " left");
            }
            if (status == SSLEngineResult.Status.CLOSED) {
                closed = true;
                break;
            }
            afterStep();
        }
        keep(in);
        if (produced > 0) {
            return produced;
        }
        return n < 0 || closed ? -1 : 0;
    }

    /** After a record: what the engine asks for (a post-handshake message's task, or a record to send back). */
    private void afterStep() throws IOException {
        while (true) {
            HandshakeStatus status = engine.getHandshakeStatus();
            if (status == HandshakeStatus.NEED_TASK) {
                runTasks();
            } else if (status == HandshakeStatus.NEED_WRAP) {
                ByteBuffer out = ByteBuffer.allocate(scratch.packetBytes);
                SSLEngineResult result = engine.wrap(EMPTY, out);
                out.flip();
                send(out);
                if (result.getStatus() == SSLEngineResult.Status.CLOSED || result.bytesProduced() == 0) {
                    return;
                }
            } else {
                return;
            }
        }
    }

    /** Keeps the unfinished record left in {@code in} for the next read. */
    private void keep(ByteBuffer in) {
        if (!in.hasRemaining()) {
            return;
        }
        if (left == null || left.capacity() < in.remaining()) {
            left = ByteBuffer.allocate(Math.max(in.remaining(), scratch.packetBytes));
        }
        left.clear();
        left.put(in).flip();
        leftBytes = true;
    }

    /**
     * Encrypts and sends all of {@code src}, unless records are still held from before: then it
     * sends those and takes nothing while any remain. What the socket does not take is held.
     */
    void write(ByteBuffer src) throws IOException {
        if (!flush()) {
            return;
        }
        ByteBuffer out = scratch.out;
        while (src.hasRemaining() && held == null) {
            out.clear();
            while (src.hasRemaining() && out.remaining() >= scratch.packetBytes) {
                SSLEngineResult result = engine.wrap(src, out);
                if (result.getStatus() == SSLEngineResult.Status.CLOSED) {
                    throw new SSLException("TLS is closed");
                }
                if (result.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
                    runTasks();
                }
                if (result.bytesConsumed() == 0 && result.bytesProduced() == 0) {
                    throw new SSLException("the engine took nothing to wrap: " + result);
                }
            }
            out.flip();
            send(out);
        }
    }

    private void send(ByteBuffer records) throws IOException {
        if (held == null) {
            channel.write(records);
            if (records.hasRemaining()) {
                held = ByteBuffer.allocate(records.remaining()).put(records).flip();
            }
        } else {
            held = ByteBuffer.allocate(held.remaining() + records.remaining()).put(held).put(records).flip();
        }
    }

    /** Sends the records held; true if none are left. */
    boolean flush() throws IOException {
        if (held == null) {
            return true;
        }
        channel.write(held);
        if (held.hasRemaining()) {
            return false;
        }
        held = null;
        return true;
    }

    /** Whether records wait for the socket to take them. */
    boolean holdsOutput() {
        return held != null;
    }

    /** Sends close_notify if the socket takes it now, and closes; an OpenSSL engine's native part is freed. */
    void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            engine.closeOutbound();
            ByteBuffer out = scratch.out.clear();
            engine.wrap(EMPTY, out);
            out.flip();
            if (held == null) {
                channel.write(out);
            }
        } catch (IOException | RuntimeException e) {
            // closing anyway
        }
        try {
            channel.close();
        } catch (IOException e) {
            // closed anyway
        }
        ReferenceCountUtil.release(engine);
    }
}
