package dev.adder.bench;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLSocket;
import org.HdrHistogram.Histogram;

/**
 * The load generator: N connections, each keeping D requests in flight for S
 * seconds, every answer checked, latency from a request's send to its answer.
 *
 * <pre>
 * load --connect ADDR [--conns N] [--depth D] [--seconds S] [--warmup S] [--threads T]
 *      [--rate R] [--server-pid PID] [--split-writes --requests N]
 *      [--tls-ca FILE [--tls-engine openssl|jdk] [--tls-ciphers LIST] [--tls-resume] [--tls-sockets]]
 * load --handshakes --connect tls:HOST:PORT --tls-ca FILE ...   (see {@link HandshakeLoad})
 * </pre>
 *
 * Prints one line, {@code ops=... ops_per_s=... p50_us=... p99_us=... p999_us=... errors=... total=...}
 * ({@code ops}: answers in the measured window; {@code total}: all, warm-up included), then
 * {@code load_cpu_pct=... load_cpu_us_per_req=...}, the load generator's own CPU over the window
 * (when it nears 100% of a core, or the server's CPU per request, the load is what limits the
 * figures), and exits 1 on any wrong answer or any connection the server closed.
 *
 * <p>A {@code tls:HOST:PORT} address is spoken over TLS (1.3, or 1.2 if the
 * server has no newer), trusting the CAs of {@code --tls-ca}: every
 * connection makes its handshake before the run begins, then each thread
 * drives its connections' own client {@code SSLEngine}s over non-blocking
 * sockets ({@link TlsConnection}, none of Adder's TLS code): BoringSSL's
 * through netty-tcnative by default, the cheaper for the load, or the JDK's
 * with {@code --tls-engine jdk}; the line ends with
 * {@code tls=PROTOCOL/SUITE/ENGINE} as agreed. {@code --tls-ciphers} offers
 * those suites alone (comma-separated, say {@code TLS_AES_128_GCM_SHA256}, to
 * have every server use the same; with {@code --tls-engine jdk}: BoringSSL's
 * TLS 1.3 suites cannot be chosen); {@code --tls-resume} lets connections
 * resume an earlier one's session (by default each makes a full handshake).
 * {@code --tls-sockets} instead gives each connection a thread of its own and
 * a blocking JDK {@code SSLSocket} (not with {@code --rate}): the other way to
 * write a TLS load, for comparing what the load costs per request.
 *
 * <p>{@code --rate R} paces the load instead of saturating it: R requests per
 * second in all, spread evenly over the connections, each sent at its
 * scheduled time whatever happened to the ones before it (up to D in flight
 * per connection, default 1024; past that, requests wait and are sent late).
 * Latency is then measured from each request's scheduled time, not from when
 * it was sent, so a stalled server is charged for every request it delayed
 * (coordinated omission corrected). The threads wait for the next scheduled
 * send by polling, so the load generator keeps its own core busy. The line
 * then adds {@code send_late_p99_us} and {@code send_late_max_us}: how late
 * the load itself sent requests, past when each could have gone (its due
 * time, or the answer that freed its slot): a load thread kept off its core
 * shows there, not as the server's latency.
 *
 * <p>{@code --server-pid PID} adds the server's CPU time over the measured
 * window, read from {@code /proc/PID/stat}: {@code server_cpu_pct} (of one
 * core) and {@code server_cpu_us_per_req}.
 *
 * <p>{@code --split-writes} is the teaching client's pattern: each request as
 * two 8-byte writes with Nagle's algorithm on, one at a time; with
 * {@code --requests N} it stops after N answers and prints how long they took.
 */
final class Load {

    private static final int READ_BUFFER_BYTES = 64 * 1024;

    private AdderAddress address;
    private int conns = 1;
    private int depth = 1;
    private double seconds = 5;
    private double warmup = 1;
    private int threads = 1;
    private boolean splitWrites;
    private long requestLimit;
    /** Requests per second in all, or 0: as fast as the server answers. */
    private double rate;
    private long serverPid;
    private boolean depthGiven;
    private Path tlsCa;
    private String tlsCiphers;
    private String tlsEngine = "openssl";
    private boolean tlsResume;
    private boolean tlsSockets;
    /** The TLS client, for a tls: address. */
    private TlsConnection.Client tlsClient;

    private Load() {
    }

    static int main(String[] args) throws Exception {
        if (Arrays.asList(args).contains("--handshakes")) {
            return HandshakeLoad.main(args);
        }
        Load load = new Load();
        try {
            load.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("load: " + e.getMessage());
            System.err.println("usage: load --connect ADDR [--conns N] [--depth D] [--seconds S] [--warmup S]"
                    + " [--threads T] [--rate R] [--server-pid PID] [--split-writes] [--requests N]"
                    + " [--tls-ca FILE] [--tls-engine openssl|jdk] [--tls-ciphers LIST] [--tls-resume] [--tls-sockets]");
            return 2;
        }
        return load.run();
    }

    /**
     * A run's figures, for a tool that runs the load beside something else: as {@code main}
     * would print them, without printing.
     *
     * @throws IllegalArgumentException if the options are wrong
     */
    static Result measure(String[] args) throws Exception {
        Load load = new Load();
        load.parse(args);
        return load.measureRun();
    }

    private void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String option = args[i];
            if (option.equals("--split-writes")) {
                splitWrites = true;
                continue;
            }
            if (option.equals("--tls-resume")) {
                tlsResume = true;
                continue;
            }
            if (option.equals("--tls-sockets")) {
                tlsSockets = true;
                continue;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(option + " needs a value");
            }
            String value = args[++i];
            switch (option) {
                case "--connect" -> address = AdderAddress.parse(value);
                case "--conns" -> conns = positive(option, value);
                case "--depth" -> {
                    depth = positive(option, value);
                    depthGiven = true;
                }
                case "--rate" -> {
                    rate = Double.parseDouble(value);
                    if (!(rate > 0)) {
                        throw new IllegalArgumentException("--rate must be more than 0");
                    }
                }
                case "--server-pid" -> serverPid = positive(option, value);
                case "--seconds" -> seconds = Double.parseDouble(value);
                case "--warmup" -> warmup = Double.parseDouble(value);
                case "--threads" -> threads = positive(option, value);
                case "--requests" -> requestLimit = positive(option, value);
                case "--tls-ca" -> tlsCa = Path.of(value);
                case "--tls-ciphers" -> tlsCiphers = value;
                case "--tls-engine" -> tlsEngine = value;
                default -> throw new IllegalArgumentException("unknown option " + option);
            }
        }
        if (address == null) {
            throw new IllegalArgumentException("--connect is required");
        }
        if (splitWrites) {
            depth = 1;
        }
        if (rate > 0 && splitWrites) {
            throw new IllegalArgumentException("--rate and --split-writes do not go together");
        }
        if (rate > 0 && !depthGiven) {
            depth = 1024;
        }
        threads = Math.min(threads, conns);
        if (address.isTls() != (tlsCa != null)) {
            throw new IllegalArgumentException(address.isTls() ? "a tls: address needs --tls-ca FILE (the CAs to trust)"
                    : "--tls-ca goes with a tls: address");
        }
        if (!address.isTls() && (tlsCiphers != null || tlsResume || tlsSockets || !tlsEngine.equals("openssl"))) {
            throw new IllegalArgumentException("--tls-engine, --tls-ciphers, --tls-resume and --tls-sockets go with a tls: address");
        }
        if (address.isTls() && splitWrites) {
            throw new IllegalArgumentException("--split-writes is the teaching pattern over plain TCP, not TLS");
        }
        if (tlsCiphers != null && tlsEngine.equals("openssl") && !tlsSockets) {
            throw new IllegalArgumentException("BoringSSL's TLS 1.3 cipher suites cannot be chosen: --tls-ciphers needs"
                    + " --tls-engine jdk");
        }
        if (tlsSockets && rate > 0) {
            throw new IllegalArgumentException("--tls-sockets and --rate do not go together");
        }
    }

    private static int positive(String option, String value) {
        int n = Integer.parseInt(value);
        if (n < 1) {
            throw new IllegalArgumentException(option + " must be at least 1");
        }
        return n;
    }

    /** One connection's state: D requests in flight, answers checked in order. */
    private final class Conn {
        final SocketChannel channel;
        /** Its TLS, or null over a plain socket. */
        final TlsConnection tls;
        final long y;
        final ByteBuffer out = ByteBuffer.allocateDirect(depth * Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
        final ByteBuffer in;
        /** When each request in flight was sent or, paced, scheduled. */
        final long[] sentAt = new long[depth];
        /** Paced: when the next request is due. */
        long nextDue;
        /** When the last answers came: a request kept back by the in-flight bound could go from then. */
        long lastAnswerAt;
        long sent;
        long received;
        SelectionKey key;
        boolean closed;

        Conn(SocketChannel channel, TlsConnection tls, long y) {
            this.channel = channel;
            this.tls = tls;
            this.y = y;
            // under TLS a read decrypts every whole record it read: room for all answers in flight and a record more
            int room = tls == null ? READ_BUFFER_BYTES
                    : Math.max(READ_BUFFER_BYTES, depth * Protocol.RESPONSE_BYTES + 2 * 16 * 1024);
            this.in = ByteBuffer.allocateDirect(room).order(Protocol.BYTE_ORDER);
            out.flip();
        }

        boolean inFlightFull() {
            return sent - received >= depth;
        }

        /** Writes what the socket takes of {@code src}, plain or through TLS. */
        void write(ByteBuffer src) throws IOException {
            if (tls == null) {
                channel.write(src);
            } else {
                tls.write(src);
            }
        }

        /** Bytes of requests wait to be sent (or, under TLS, records). */
        boolean outputWaits() {
            return out.hasRemaining() || tls != null && tls.holdsOutput();
        }

        int read() throws IOException {
            return tls == null ? channel.read(in) : tls.read(in);
        }
    }

    /** What a thread of the load measured. */
    private abstract static class Figures {
        final Histogram latency = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        /** Paced: how late each request was sent, past when it could have been. */
        final Histogram sendLate = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        long measuredOps;
        long errors;
        long totalAnswers;
        String firstError;
        long warmupEnd;
        long end;
        boolean stopped;

        void error(String message) {
            if (errors++ == 0) {
                firstError = message;
            }
        }
    }

    /** One thread's share of the connections and its own figures. */
    private final class Worker extends Figures implements Runnable {
        final List<Conn> mine = new ArrayList<>();
        /** The buffers its connections' TLS records pass through. */
        final TlsConnection.Scratch scratch = new TlsConnection.Scratch();

        @Override
        public void run() {
            try (Selector selector = Selector.open()) {
                for (Conn conn : mine) {
                    conn.key = conn.channel.register(selector, SelectionKey.OP_READ, conn);
                }
                long now = System.nanoTime();
                for (Conn conn : mine) {
                    if (rate > 0) {
                        sendDue(conn, now);
                    } else {
                        refill(conn, now);
                    }
                }
                while (true) {
                    now = System.nanoTime();
                    if (rate > 0 && !stopped) {
                        waitPaced(selector, now);
                        continue;
                    }
                    if (!stopped && now - end >= 0) {
                        stopped = true;
                    }
                    if (stopped && allAnsweredOrClosed()) {
                        break;
                    }
                    if (stopped && now - end > TimeUnit.SECONDS.toNanos(5)) {
                        error("answers still missing 5 s after the end");
                        break;
                    }
                    selector.select(this::ready, 100);
                }
            } catch (IOException e) {
                error("selector failed: " + e);
            } finally {
                for (Conn conn : mine) {
                    close(conn);
                }
            }
        }

        /**
         * Paced: sends what is due, then waits for answers until the next
         * send is due, blocking when that is far off and polling when near.
         */
        private void waitPaced(Selector selector, long now) throws IOException {
            if (now - end >= 0) {
                stopped = true;
                return;
            }
            long next = end;
            for (Conn conn : mine) {
                if (conn.nextDue - now <= 0 && !conn.inFlightFull()) {
                    sendDue(conn, now);
                }
                if (!conn.closed && !conn.inFlightFull() && conn.nextDue - next < 0) {
                    next = conn.nextDue;
                }
            }
            long waitMillis = TimeUnit.NANOSECONDS.toMillis(next - now) - 1;
            if (waitMillis >= 1) {
                selector.select(this::ready, waitMillis);
            } else {
                selector.selectNow(this::ready);
            }
        }

        /** Paced: sends every request whose time has come, each stamped with that time. */
        private void sendDue(Conn conn, long now) throws IOException {
            if (conn.outputWaits() || conn.closed) {
                return;
            }
            ByteBuffer out = conn.out.clear();
            boolean measuring = now - warmupEnd >= 0 && now - end < 0;
            while (conn.nextDue - now <= 0 && !conn.inFlightFull() && out.remaining() >= Protocol.REQUEST_BYTES) {
                if (measuring) {
                    // how long it could have gone and had not: the load's own delay, not the server's
                    long sendable = Math.max(conn.nextDue, conn.lastAnswerAt);
                    sendLate.recordValue(Math.min(Math.max(0, now - sendable), sendLate.getHighestTrackableValue()));
                }
                conn.sentAt[(int) (conn.sent % depth)] = conn.nextDue;
                Protocol.encodeRequest(out, conn.sent, conn.y);
                conn.sent++;
                conn.nextDue += interval;
            }
            out.flip();
            conn.write(out);
            if (conn.outputWaits()) {
                conn.key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
            }
        }

        private boolean allAnsweredOrClosed() {
            for (Conn conn : mine) {
                if (!conn.closed && conn.received < conn.sent) {
                    return false;
                }
            }
            return true;
        }

        private void ready(SelectionKey key) {
            Conn conn = (Conn) key.attachment();
            try {
                if (key.isWritable()) {
                    conn.write(conn.out);
                    if (!conn.outputWaits()) {
                        key.interestOps(SelectionKey.OP_READ);
                    }
                }
                if (key.isValid() && key.isReadable()) {
                    read(conn);
                }
            } catch (IOException e) {
                error("connection failed: " + e);
                close(conn);
            }
        }

        private void read(Conn conn) throws IOException {
            int n = conn.read();
            if (n < 0) {
                error("server closed a connection");
                close(conn);
                return;
            }
            if (n == 0) {
                return;
            }
            long now = System.nanoTime();
            conn.lastAnswerAt = now;
            boolean measuring = now - warmupEnd >= 0 && now - end < 0;
            ByteBuffer in = conn.in.flip();
            while (in.remaining() >= Protocol.RESPONSE_BYTES) {
                long answer = Protocol.decodeResponse(in);
                long seq = conn.received++;
                if (answer != seq + conn.y) {
                    error("wrong answer: " + seq + " + " + conn.y + " gave " + answer);
                }
                if (measuring) {
                    latency.recordValue(now - conn.sentAt[(int) (seq % depth)]);
                    measuredOps++;
                }
                totalAnswers++;
            }
            in.compact();
            if (!stopped && rate == 0) {
                refill(conn, now);
            }
        }

        /** Sends requests until D are in flight (one at a time, in two writes, with --split-writes). */
        private void refill(Conn conn, long now) throws IOException {
            if (conn.outputWaits() || conn.closed) {
                return;
            }
            if (requestLimit > 0 && totalAnswers >= requestLimit) {
                stopped = true;
                end = now;
                return;
            }
            ByteBuffer out = conn.out.clear();
            while (conn.sent - conn.received < depth) {
                conn.sentAt[(int) (conn.sent % depth)] = now;
                Protocol.encodeRequest(out, conn.sent, conn.y);
                conn.sent++;
            }
            out.flip();
            if (splitWrites) {
                ByteBuffer half = out.duplicate().order(Protocol.BYTE_ORDER);
                half.limit(half.position() + 8);
                conn.channel.write(half);
                out.position(half.position());
            }
            conn.write(out);
            if (conn.outputWaits()) {
                conn.key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
            }
        }

        private void close(Conn conn) {
            conn.closed = true;
            if (conn.key != null) {
                conn.key.cancel();
            }
            if (conn.tls != null) {
                conn.tls.close();
                return;
            }
            try {
                conn.channel.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    /**
     * {@code --tls-sockets}: one connection on a thread of its own, over a blocking JDK
     * {@code SSLSocket}: it writes D requests, then, as answers come, as many again.
     */
    private final class SocketWorker extends Figures implements Runnable {
        final SSLSocket socket;
        final long y;

        SocketWorker(SSLSocket socket, long y) {
            this.socket = socket;
            this.y = y;
        }

        @Override
        public void run() {
            long[] sentAt = new long[depth];
            byte[] answers = new byte[Math.max(READ_BUFFER_BYTES, depth * Protocol.RESPONSE_BYTES)];
            ByteBuffer answerView = ByteBuffer.wrap(answers).order(ByteOrder.LITTLE_ENDIAN);
            byte[] requests = new byte[depth * Protocol.REQUEST_BYTES];
            ByteBuffer requestView = ByteBuffer.wrap(requests).order(ByteOrder.LITTLE_ENDIAN);
            long sent = 0;
            long received = 0;
            int have = 0;
            try (socket) {
                socket.setSoTimeout(100);
                InputStream in = socket.getInputStream();
                OutputStream out = socket.getOutputStream();
                while (true) {
                    long now = System.nanoTime();
                    if (!stopped && now - end >= 0) {
                        stopped = true;
                    }
                    if (!stopped && sent - received < depth) {
                        requestView.clear();
                        while (sent - received < depth) {
                            sentAt[(int) (sent % depth)] = now;
                            Protocol.encodeRequest(requestView, sent, y);
                            sent++;
                        }
                        out.write(requests, 0, requestView.position());
                    }
                    if (stopped && received == sent) {
                        return;
                    }
                    if (stopped && now - end > TimeUnit.SECONDS.toNanos(5)) {
                        error("answers still missing 5 s after the end");
                        return;
                    }
                    int n;
                    try {
                        n = in.read(answers, have, answers.length - have);
                    } catch (SocketTimeoutException e) {
                        continue;
                    }
                    if (n < 0) {
                        error("server closed a connection");
                        return;
                    }
                    have += n;
                    now = System.nanoTime();
                    boolean measuring = now - warmupEnd >= 0 && now - end < 0;
                    int at = 0;
                    for (; have - at >= Protocol.RESPONSE_BYTES; at += Protocol.RESPONSE_BYTES) {
                        long answer = answerView.getLong(at);
                        long seq = received++;
                        if (answer != seq + y) {
                            error("wrong answer: " + seq + " + " + y + " gave " + answer);
                        }
                        if (measuring) {
                            latency.recordValue(now - sentAt[(int) (seq % depth)]);
                            measuredOps++;
                        }
                        totalAnswers++;
                    }
                    System.arraycopy(answers, at, answers, 0, have - at);
                    have -= at;
                }
            } catch (IOException e) {
                error("connection failed: " + e);
            }
        }
    }

    /** Paced: the time between two requests on one connection. */
    private long interval;

    /** What a run measured; {@code windowStart} is the {@link System#nanoTime()} its window began at. */
    record Result(long ops, long windowStart, double window, Histogram latency, Histogram sendLate, long errors,
            long total, String firstError, double serverCpuSeconds, double loadCpuSeconds, String tls) {

        /** The line {@code main} prints. */
        String line(boolean withSeconds, boolean withServerCpu) {
            String serverCpu = !withServerCpu ? "" : String.format(" server_cpu_pct=%.1f server_cpu_us_per_req=%.2f",
                    100 * serverCpuSeconds / window, ops == 0 ? 0 : serverCpuSeconds * 1e6 / ops);
            String loadCpu = loadCpuSeconds < 0 ? "" : String.format(" load_cpu_pct=%.1f load_cpu_us_per_req=%.2f",
                    100 * loadCpuSeconds / window, ops == 0 ? 0 : loadCpuSeconds * 1e6 / ops);
            String late = sendLate == null ? "" : String.format(" send_late_p99_us=%.1f send_late_max_us=%.1f",
                    sendLate.getValueAtPercentile(99) / 1e3, sendLate.getMaxValue() / 1e3);
            return String.format("ops=%d ops_per_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f errors=%d total=%d%s%s%s%s%s",
                    ops, ops / window, latency.getValueAtPercentile(50) / 1e3, latency.getValueAtPercentile(99) / 1e3,
                    latency.getValueAtPercentile(99.9) / 1e3, errors, total,
                    withSeconds ? String.format(" seconds=%.3f", window) : "", serverCpu, loadCpu, late,
                    tls == null ? "" : " tls=" + tls);
        }
    }

    private int run() throws Exception {
        Result result = measureRun();
        System.out.println(result.line(requestLimit > 0, serverPid > 0));
        if (result.errors() > 0) {
            System.err.println("load: " + result.errors() + " errors; the first: " + result.firstError());
            return 1;
        }
        return 0;
    }

    private Result measureRun() throws Exception {
        if (address.isTls()) {
            tlsClient = TlsConnection.Client.trusting(tlsCa, tlsSockets ? "jdk" : tlsEngine, tlsCiphers, tlsResume);
        }
        List<Worker> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            workers.add(new Worker());
        }
        List<Figures> figures = new ArrayList<>();
        List<Runnable> runs = new ArrayList<>();
        String agreed = null;
        if (tlsSockets) {
            for (int c = 0; c < conns; c++) {
                SSLSocket socket = (SSLSocket) tlsClient.jdkContext().getSocketFactory().createSocket();
                socket.setTcpNoDelay(true);
                socket.connect(new InetSocketAddress(address.host(), address.port()));
                if (tlsClient.cipherSuites != null) {
                    socket.setEnabledCipherSuites(tlsClient.cipherSuites);
                }
                socket.setEnabledProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
                socket.startHandshake();
                agreed = socket.getSession().getProtocol() + "/" + socket.getSession().getCipherSuite() + "/jdk-socket";
                SocketWorker worker = new SocketWorker(socket, 1_000_003L * c + 7);
                figures.add(worker);
                runs.add(worker);
            }
        } else {
            for (int c = 0; c < conns; c++) {
                Worker worker = workers.get(c % threads);
                SocketChannel channel;
                TlsConnection connection = null;
                if (tlsClient != null) {
                    connection = tlsClient.connect(address, worker.scratch);
                    channel = connection.channel;
                    agreed = connection.describe();
                } else {
                    channel = address.isUnix() ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
                    channel.connect(address.toSocketAddress());
                    if (!address.isUnix()) {
                        channel.setOption(StandardSocketOptions.TCP_NODELAY, !splitWrites);
                    }
                }
                channel.configureBlocking(false);
                worker.mine.add(new Conn(channel, connection, 1_000_003L * c + 7));
            }
            figures.addAll(workers);
            runs.addAll(workers);
        }
        long start = System.nanoTime();
        long warmupEnd = requestLimit > 0 ? start : start + (long) (warmup * 1e9);
        long end = requestLimit > 0 ? Long.MAX_VALUE / 2 + start : warmupEnd + (long) (seconds * 1e9);
        if (rate > 0) {
            // connection c's requests are due at start + (c + k * conns) / rate seconds: R per second in all, evenly
            interval = Math.round(1e9 * conns / rate);
            for (int t = 0; t < threads; t++) {
                List<Conn> mine = workers.get(t).mine;
                for (int i = 0; i < mine.size(); i++) {
                    mine.get(i).nextDue = start + Math.round(1e9 * (i * threads + t) / rate);
                }
            }
        }
        List<Thread> running = new ArrayList<>();
        for (int t = 0; t < runs.size(); t++) {
            Figures worker = figures.get(t);
            worker.warmupEnd = warmupEnd;
            worker.end = end;
            Thread thread = new Thread(runs.get(t), "load-" + t);
            thread.start();
            running.add(thread);
        }
        long serverTicks = 0;
        long loadTicks = -1;
        if (requestLimit == 0) {
            long self = ProcessHandle.current().pid();
            sleepUntil(warmupEnd);
            long serverBefore = serverPid > 0 ? cpuTicks(serverPid) : 0;
            long loadBefore = cpuTicks(self);
            sleepUntil(end);
            serverTicks = serverPid > 0 ? cpuTicks(serverPid) - serverBefore : 0;
            loadTicks = cpuTicks(self) - loadBefore;
        }
        for (Thread thread : running) {
            thread.join();
        }
        Histogram latency = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        Histogram sendLate = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        long ops = 0;
        long total = 0;
        long errors = 0;
        String firstError = null;
        long measuredEnd = end;
        for (Figures worker : figures) {
            latency.add(worker.latency);
            sendLate.add(worker.sendLate);
            ops += worker.measuredOps;
            total += worker.totalAnswers;
            errors += worker.errors;
            if (firstError == null) {
                firstError = worker.firstError;
            }
            if (requestLimit > 0) {
                measuredEnd = Math.min(measuredEnd, worker.end);
            }
        }
        double window = (measuredEnd - warmupEnd) / 1e9;
        return new Result(ops, warmupEnd, window, latency, rate > 0 ? sendLate : null, errors, total, firstError,
                serverTicks / (double) CLOCK_TICKS_PER_SECOND,
                loadTicks < 0 ? -1 : loadTicks / (double) CLOCK_TICKS_PER_SECOND, agreed);
    }

    /** The kernel's clock tick for /proc times: 100 on every Linux this runs on (getconf CLK_TCK). */
    static final int CLOCK_TICKS_PER_SECOND = 100;

    /** utime + stime of a process, in clock ticks. */
    static long cpuTicks(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        // the fields after the command name, which is in parentheses and may hold spaces
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
    }

    private static void sleepUntil(long deadline) throws InterruptedException {
        long left;
        while ((left = deadline - System.nanoTime()) > 0) {
            TimeUnit.NANOSECONDS.sleep(left);
        }
    }
}
