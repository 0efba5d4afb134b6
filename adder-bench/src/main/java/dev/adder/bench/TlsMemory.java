package dev.adder.bench;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.core.tls.TlsFiles;
import io.netty.util.ReferenceCountUtil;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;

/**
 * What an idle connection holds on the server's heap, plain and under TLS,
 * for Adder and the Netty peer side by side, and what one bare server
 * {@code SSLEngine} holds after a TLS 1.3 handshake: the part of a TLS
 * connection that is the engine's, whoever serves it.
 *
 * <pre>
 * tls-memory --tls-cert FILE --tls-key FILE --tls-ca FILE [--conns N] [--subjects LIST]
 *            [--server-jar JAR] [--tls-engine openssl|jdk] [--tls-ciphers LIST] [--classes K] [--settle S]
 *            [--engine-rounds R]
 *            [--server-rounds R] [-- SERVER_JVM_FLAGS...]
 * </pre>
 *
 * <p>Each subject runs in a JVM of its own, started here with the flags
 * given (default {@code -XX:+UseSerialGC -Xms8m -Xmx256m -XX:AutoBoxCacheMax=20000 -XX:MarkSweepDeadRatio=0};
 * flags of your own should keep the last, or the readings jump by hundreds of KB):
 * <ul>
 *   <li>{@code adder-tcp}, {@code adder-tls}: Adder's daemon ({@code --server-jar}, by default
 *       {@code adder-server/target/adder-server-all.jar} beside this jar's module) on
 *       {@code tcp:} or {@code tls:};
 *   <li>{@code netty-tcp}, {@code netty-tls}, {@code netty-openssl}: the Netty peer of this jar,
 *       plain, with its {@code SslHandler} over the JDK's engine, or over BoringSSL (whose
 *       engine lives outside the heap: compare its RSS);
 *   <li>{@code engine}: N pairs of engines made in memory, the server's from the same files as
 *       Adder's server context and set up as Adder's are (TLS 1.3 and 1.2), each pair
 *       handshaken, a request and an answer passed; the client engines dropped, the server
 *       engines held, then dropped too.
 * </ul>
 * A server is first warmed with 200 connections opened, answered once and
 * closed, and left for 12 s under TLS ({@code --settle S}: Adder's loop holds
 * on to closed TLS connections until its handshake timer next fires, up to
 * its 10 s handshake timeout after they began); then its live heap is read ({@code jcmd PID GC.class_histogram},
 * after the full GC that command makes) and its RSS, N connections are
 * opened, each handshaken (under TLS, a full handshake) and answered once,
 * and held idle, and both are read again: per connection is the difference
 * over N; then they are closed, and after the same wait the next round
 * begins: the figures are the medians of 3 rounds ({@code --server-rounds R}). The engine's figure is the live heap with the N server engines
 * held, less once they are dropped: what only the engine reaches (its
 * session, keys, records), the median of 5 rounds ({@code --engine-rounds R},
 * each printed: the JVM's own heap moves by a few hundred KB now and then,
 * which a single round would charge to the engines); {@code left_after_drop} is what stayed after
 * they were dropped, over what there was before the handshakes (a session
 * cache would show there; so does the JVM's own noise, a few hundred KB, so
 * it needs a large N). The client of every TLS subject is the same engine
 * ({@code --tls-engine}, BoringSSL's by default) and never resumes: what a
 * server's engine keeps differs with the client's engine, and with the suite
 * agreed (AES-256's keys take more than AES-128's: Adder's server prefers
 * {@code TLS_AES_256_GCM_SHA384}, Netty's {@code TLS_AES_128_GCM_SHA256});
 * {@code --tls-ciphers LIST} has the clients offer those alone (with
 * {@code --tls-engine jdk}: BoringSSL's TLS 1.3 suites cannot be chosen).
 * The {@code K} classes (default 12) whose live bytes grew most are listed
 * for each subject, per connection.
 *
 * <p>Last, the figures the TLS subjects are judged by: each one's TLS
 * connection less its plain one, and less the engine with its context's
 * share (what the server holds beyond the engine).
 */
final class TlsMemory {

    private static final Pattern HISTOGRAM_LINE = Pattern.compile("^\\s*\\d+:\\s+(\\d+)\\s+(\\d+)\\s+(\\S+).*$");
    private static final Pattern TOTAL_LINE = Pattern.compile("^Total\\s+(\\d+)\\s+(\\d+)\\s*$");
    /**
     * The README's recommended flags, a larger heap bound, and a full GC that compacts the whole heap: by
     * default Serial's leaves up to 5% of it dead in place, as filler {@code int[]}s the class histogram
     * counts as live (hundreds of KB that come and go between two readings).
     */
    private static final List<String> DEFAULT_FLAGS = List.of("-XX:+UseSerialGC", "-Xms8m", "-Xmx256m",
            "-XX:AutoBoxCacheMax=20000", "-XX:MarkSweepDeadRatio=0");
    private static final int WARMUP_CONNECTIONS = 200;

    private Path cert;
    private Path key;
    private Path ca;
    private int conns = 2000;
    private List<String> subjects = List.of("engine", "adder-tcp", "adder-tls", "netty-tcp", "netty-tls");
    private Path serverJar;
    private String tlsEngine = "openssl";
    /** The suites the clients offer, or null for their engine's defaults. */
    private String tlsCiphers;
    private int classes = 12;
    /** How long the warmed server is left before its heap is read, under TLS. */
    private int settleSeconds = 12;
    /** How many times the engine subject holds N engines and drops them; its figure is the median. */
    private int engineRounds = 5;
    /** How many times a server gets N connections, held and then closed; its figures are the medians. */
    private int serverRounds = 3;
    private List<String> flags = DEFAULT_FLAGS;

    private TlsMemory() {
    }

    static int main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--engine-child")) {
            return engineChild(Arrays.copyOfRange(args, 1, args.length));
        }
        TlsMemory memory = new TlsMemory();
        try {
            memory.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("tls-memory: " + e.getMessage());
            System.err.println("usage: tls-memory --tls-cert FILE --tls-key FILE --tls-ca FILE [--conns N] [--subjects LIST]"
                    + " [--server-jar JAR] [--tls-engine openssl|jdk] [--tls-ciphers LIST] [--classes K] [--settle S]"
                    + " [--engine-rounds R]"
                    + " [--server-rounds R] [-- SERVER_JVM_FLAGS...]");
            return 2;
        }
        return memory.run();
    }

    private void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String option = args[i];
            if (option.equals("--")) {
                flags = List.of(Arrays.copyOfRange(args, i + 1, args.length));
                break;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(option + " needs a value");
            }
            String value = args[++i];
            switch (option) {
                case "--tls-cert" -> cert = Path.of(value);
                case "--tls-key" -> key = Path.of(value);
                case "--tls-ca" -> ca = Path.of(value);
                case "--conns" -> conns = Integer.parseInt(value);
                case "--subjects" -> subjects = List.of(value.split(","));
                case "--server-jar" -> serverJar = Path.of(value);
                case "--tls-engine" -> tlsEngine = value;
                case "--tls-ciphers" -> tlsCiphers = value;
                case "--classes" -> classes = Integer.parseInt(value);
                case "--settle" -> settleSeconds = Integer.parseInt(value);
                case "--engine-rounds" -> engineRounds = Integer.parseInt(value);
                case "--server-rounds" -> serverRounds = Integer.parseInt(value);
                default -> throw new IllegalArgumentException("unknown option " + option);
            }
        }
        if (cert == null || key == null || ca == null) {
            throw new IllegalArgumentException("--tls-cert, --tls-key and --tls-ca are required");
        }
        if (tlsCiphers != null && tlsEngine.equals("openssl")) {
            throw new IllegalArgumentException("BoringSSL's TLS 1.3 cipher suites cannot be chosen: --tls-ciphers needs"
                    + " --tls-engine jdk");
        }
        if (conns < 1) {
            throw new IllegalArgumentException("--conns must be at least 1");
        }
        for (String subject : subjects) {
            if (!List.of("engine", "adder-tcp", "adder-tls", "netty-tcp", "netty-tls", "netty-openssl").contains(subject)) {
                throw new IllegalArgumentException("unknown subject " + subject
                        + " (engine, adder-tcp, adder-tls, netty-tcp, netty-tls, netty-openssl)");
            }
        }
    }

    /** One subject's figures: live heap and RSS per connection, and the classes that grew most. */
    private record Figures(String subject, double heapPerConn, double rssPerConn, long heapBefore, long heapAfter,
            Map<String, Double> topClasses, String note) {
    }

    private int run() throws Exception {
        Path benchJar = Path.of(TlsMemory.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        if (serverJar == null) {
            serverJar = benchJar.toAbsolutePath().getParent().getParent().getParent()
                    .resolve("adder-server/target/adder-server-all.jar");
        }
        if (subjects.stream().anyMatch(s -> s.startsWith("adder")) && !Files.isRegularFile(serverJar)) {
            System.err.println("tls-memory: no Adder daemon jar at " + serverJar + " (--server-jar JAR)");
            return 2;
        }
        System.out.printf("tls-memory: %d connections per subject; server JVMs: java %s (Java %s)%n", conns,
                String.join(" ", flags), System.getProperty("java.version"));
        Map<String, Figures> results = new LinkedHashMap<>();
        for (String subject : subjects) {
            Figures figures = subject.equals("engine") ? measureEngines(benchJar) : measureServer(subject, benchJar);
            results.put(subject, figures);
            print(figures);
        }
        summarize(results);
        return 0;
    }

    private void print(Figures f) {
        System.out.printf("%s: heap_per_conn=%.0f B rss_per_conn=%s heap_before=%d heap_after=%d%s%n", f.subject,
                f.heapPerConn, Double.isNaN(f.rssPerConn) ? "-" : String.format("%.0f B", f.rssPerConn), f.heapBefore,
                f.heapAfter, f.note.isEmpty() ? "" : " " + f.note);
        for (Map.Entry<String, Double> top : f.topClasses.entrySet()) {
            System.out.printf("    %8.1f B  %s%n", top.getValue(), top.getKey());
        }
    }

    private void summarize(Map<String, Figures> results) {
        System.out.println("summary (live heap per idle connection):");
        Figures engine = results.get("engine");
        for (String name : List.of("adder", "netty")) {
            Figures plain = results.get(name + "-tcp");
            Figures tls = results.get(name + "-tls");
            if (tls == null) {
                continue;
            }
            StringBuilder line = new StringBuilder(String.format("  %s: tls %.0f B", name, tls.heapPerConn));
            if (plain != null) {
                line.append(String.format(", plain %.0f B, tls less plain %.0f B", plain.heapPerConn,
                        tls.heapPerConn - plain.heapPerConn));
            }
            if (engine != null) {
                line.append(String.format(", beyond the engine %.0f B", tls.heapPerConn - engine.heapPerConn));
            }
            System.out.println(line);
        }
        Figures adder = results.get("adder-tls");
        Figures netty = results.get("netty-tls");
        if (adder != null && netty != null) {
            System.out.printf("  adder-tls / netty-tls: %.2f (below 1: Adder holds less)%n", adder.heapPerConn / netty.heapPerConn);
        }
    }

    // ---- a server in a child JVM ----

    private Figures measureServer(String subject, Path benchJar) throws Exception {
        boolean tls = subject.endsWith("-tls") || subject.equals("netty-openssl");
        String listen = tls ? "tls:127.0.0.1:0" : "tcp:127.0.0.1:0";
        List<String> command = new ArrayList<>();
        command.add(javaBinary());
        command.addAll(flags);
        if (subject.startsWith("adder")) {
            command.addAll(List.of("-jar", serverJar.toString(), "--listen", listen, "--no-jmx"));
        } else {
            command.addAll(List.of("-jar", benchJar.toString(), "netty", "--listen", listen));
        }
        if (tls) {
            command.addAll(List.of("--tls-cert", cert.toString(), "--tls-key", key.toString()));
        }
        if (subject.equals("netty-openssl")) {
            command.addAll(List.of("--tls-provider", "openssl"));
        }
        retried = 0;
        Path log = Files.createTempFile("adder-tls-memory-" + subject, ".log");
        Process server = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        List<Held> held = new ArrayList<>();
        try {
            AdderAddress address = AdderAddress.parse(awaitListening(server, log));
            TlsConnection.Client client = tls ? TlsConnection.Client.trusting(ca, tlsEngine, tlsCiphers, false) : null;
            TlsConnection.Scratch scratch = new TlsConnection.Scratch();
            for (int c = 0; c < WARMUP_CONNECTIONS; c++) {
                openRetrying(address, client, scratch, c).close();
            }
            // Adder's loop keeps each TLS connection in its list of handshakes to time until the timer for
            // the oldest fires, up to the handshake timeout (10 s) after it began, closed or not
            TimeUnit.SECONDS.sleep(tls ? settleSeconds : 1);
            histogram(server.pid()); // once for nothing: the first attach leaves some of its own on the heap
            List<Double> heap = new ArrayList<>();
            List<Double> rss = new ArrayList<>();
            Map<String, long[]> before = null;
            Map<String, long[]> after = null;
            long x = WARMUP_CONNECTIONS;
            for (int round = 0; round < serverRounds; round++) {
                if (round > 0) {
                    for (Held connection : held) {
                        connection.close();
                    }
                    held.clear();
                    TimeUnit.SECONDS.sleep(tls ? settleSeconds : 1);
                }
                before = histogram(server.pid());
                long rssBefore = rssBytes(server.pid());
                for (int c = 0; c < conns; c++) {
                    held.add(openRetrying(address, client, scratch, x++));
                }
                TimeUnit.SECONDS.sleep(1);
                after = histogram(server.pid());
                long rssAfter = rssBytes(server.pid());
                heap.add((after.get("Total")[1] - before.get("Total")[1]) / (double) conns);
                rss.add((rssAfter - rssBefore) / (double) conns);
            }
            String note = (serverRounds == 1 ? "" : "rounds=" + rounded(heap)) + (retried == 0 ? "" : " retried=" + retried);
            return new Figures(subject, median(heap), median(rss), before.get("Total")[1], after.get("Total")[1],
                    grown(before, after, conns), note.trim());
        } finally {
            for (Held connection : held) {
                connection.close();
            }
            server.destroy();
            if (!server.waitFor(10, TimeUnit.SECONDS)) {
                server.destroyForcibly();
            }
            Files.deleteIfExists(log);
        }
    }

    /** Connections that failed and were made again, in this subject's run: none on a machine at rest. */
    private int retried;

    /** {@link #open}, tried again twice if it fails (a handshake timed out on a loaded machine, say). */
    private Held openRetrying(AdderAddress address, TlsConnection.Client client, TlsConnection.Scratch scratch, long x)
            throws IOException {
        for (int attempt = 1;; attempt++) {
            try {
                return open(address, client, scratch, x);
            } catch (IOException e) {
                if (attempt == 3) {
                    throw e;
                }
                retried++;
                System.err.println("tls-memory: connection " + x + " failed (" + e + "); once more");
            }
        }
    }

    /** A connection held open: plain or TLS. */
    private interface Held {
        void close();
    }

    /** Opens a connection and checks one answer on it. */
    private static Held open(AdderAddress address, TlsConnection.Client client, TlsConnection.Scratch scratch, long x)
            throws IOException {
        ByteBuffer request = ByteBuffer.allocate(Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
        Protocol.encodeRequest(request, x, 1);
        request.flip();
        ByteBuffer answer = ByteBuffer.allocate(64 * 1024).order(Protocol.BYTE_ORDER);
        if (client != null) {
            TlsConnection connection = client.connect(address, scratch);
            connection.write(request);
            while (answer.position() < Protocol.RESPONSE_BYTES) {
                if (connection.read(answer) < 0) {
                    connection.close();
                    throw new IOException("the server closed connection " + x + " before its answer");
                }
            }
            check(answer, x);
            return connection::close;
        }
        SocketChannel channel = SocketChannel.open(address.toSocketAddress());
        channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
        while (request.hasRemaining()) {
            channel.write(request);
        }
        while (answer.position() < Protocol.RESPONSE_BYTES) {
            if (channel.read(answer) < 0) {
                channel.close();
                throw new IOException("the server closed connection " + x + " before its answer");
            }
        }
        check(answer, x);
        return () -> {
            try {
                channel.close();
            } catch (IOException e) {
                // closed anyway
            }
        };
    }

    private static void check(ByteBuffer answer, long x) throws IOException {
        answer.flip();
        long sum = Protocol.decodeResponse(answer);
        if (sum != x + 1) {
            throw new IOException("wrong answer on connection " + x + ": " + sum);
        }
    }

    private static String awaitListening(Process server, Path log) throws Exception {
        Pattern listening = Pattern.compile("listening on ((?:tcp|tls):[^,;\\s]+)");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() - deadline < 0) {
            Matcher m = listening.matcher(Files.readString(log));
            if (m.find()) {
                return m.group(1);
            }
            if (!server.isAlive()) {
                break;
            }
            TimeUnit.MILLISECONDS.sleep(100);
        }
        throw new IOException("the server did not start: " + Files.readString(log));
    }

    // ---- bare engines in a child JVM ----

    private Figures measureEngines(Path benchJar) throws Exception {
        List<String> command = new ArrayList<>();
        command.add(javaBinary());
        command.addAll(flags);
        command.addAll(List.of("-cp", benchJar.toString(), Bench.class.getName(), "tls-memory", "--engine-child",
                cert.toString(), key.toString(), ca.toString(), Integer.toString(conns), tlsEngine,
                tlsCiphers == null ? "" : tlsCiphers));
        Process child = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
                PrintStream in = new PrintStream(child.getOutputStream(), true, StandardCharsets.UTF_8)) {
            expect(out, "ready");
            histogram(child.pid()); // once for nothing: the first attach leaves some of its own on the heap
            Map<String, long[]> ready = histogram(child.pid());
            // rounds, each holding N engines and dropping them: the JVM's own heap moves by a few hundred KB
            // now and then (a table grown, code first run), which one round alone would charge to the engines
            List<Double> rounds = new ArrayList<>();
            String protocol = "";
            Map<String, long[]> held = ready;
            Map<String, long[]> dropped = ready;
            for (int round = 0; round < engineRounds; round++) {
                in.println("handshake");
                protocol = expect(out, "held").substring("held".length()).trim();
                held = histogram(child.pid());
                in.println("drop");
                expect(out, "dropped");
                dropped = histogram(child.pid());
                rounds.add((held.get("Total")[1] - dropped.get("Total")[1]) / (double) conns);
            }
            in.println("exit");
            double median = median(rounds);
            String note = String.format("rounds=%s left_after_drop=%.0f B (%s, client engine %s)", rounded(rounds),
                    (dropped.get("Total")[1] - ready.get("Total")[1]) / (double) conns, protocol, tlsEngine);
            return new Figures("engine", median, Double.NaN, dropped.get("Total")[1], held.get("Total")[1],
                    grown(dropped, held, conns), note);
        } finally {
            if (!child.waitFor(30, TimeUnit.SECONDS)) {
                child.destroyForcibly();
            }
        }
    }

    private static String expect(BufferedReader out, String word) throws IOException {
        String line = out.readLine();
        if (line == null || !line.startsWith(word)) {
            throw new IOException("the engine child said " + line + " where " + word + " was due");
        }
        return line;
    }

    /** The child: waits for each step's word on its input, and says when it is done. */
    private static int engineChild(String[] args) throws Exception {
        Path cert = Path.of(args[0]);
        Path key = Path.of(args[1]);
        Path ca = Path.of(args[2]);
        int n = Integer.parseInt(args[3]);
        SSLContext server = TlsFiles.context(cert, key, null);
        // the client as the servers' runs have it: the same engine, no resumption (so no client session is kept)
        TlsConnection.Client client = TlsConnection.Client.trusting(ca, args[4], args[5].isEmpty() ? null : args[5], false);
        for (int i = 0; i < WARMUP_CONNECTIONS; i++) {
            pair(server, client, i);
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        settle();
        System.out.println("ready");
        System.out.flush();
        List<SSLEngine> engines = new ArrayList<>();
        String protocol = "";
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            switch (line) {
                case "handshake" -> {
                    for (int i = 0; i < n; i++) {
                        SSLEngine engine = pair(server, client, i);
                        protocol = engine.getSession().getProtocol() + "/" + engine.getSession().getCipherSuite();
                        engines.add(engine);
                    }
                    settle();
                    System.out.println("held " + protocol);
                }
                case "drop" -> {
                    engines.clear();
                    settle();
                    System.out.println("dropped");
                }
                case "exit" -> {
                    return 0;
                }
                default -> throw new IllegalStateException("unknown step " + line);
            }
            System.out.flush();
        }
        return 0;
    }

    /** The client engines dropped are finalized (an OpenSSL engine's Java part waits for its finalizer), not counted. */
    @SuppressWarnings("removal") // runFinalization: what OpenSslEngine still needs
    private static void settle() {
        for (int i = 0; i < 3; i++) {
            System.gc();
            System.runFinalization();
        }
    }

    /**
     * A server engine (as Adder sets one up) and a client engine, handshaken in memory, then a
     * request from the client and an answer from the server; the server engine is returned, the
     * client's dropped.
     */
    private static SSLEngine pair(SSLContext serverContext, TlsConnection.Client clientContext, long x)
            throws SSLException {
        SSLEngine server = serverContext.createSSLEngine();
        server.setUseClientMode(false);
        SSLParameters parameters = server.getSSLParameters();
        parameters.setProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
        server.setSSLParameters(parameters);
        SSLEngine client = clientContext.newEngine(null);
        try {
            exchange(server, client, x);
        } finally {
            ReferenceCountUtil.release(client);
        }
        return server;
    }

    private static void exchange(SSLEngine server, SSLEngine client, long x) throws SSLException {
        int packet = Math.max(server.getSession().getPacketBufferSize(), client.getSession().getPacketBufferSize());
        ByteBuffer toServer = ByteBuffer.allocate(8 * packet);
        ByteBuffer toClient = ByteBuffer.allocate(8 * packet);
        ByteBuffer plain = ByteBuffer.allocate(64 * 1024);
        client.beginHandshake();
        server.beginHandshake();
        for (int round = 0; round < 100 && (busy(client) || busy(server)); round++) {
            step(client, toClient, toServer, plain);
            step(server, toServer, toClient, plain);
        }
        if (busy(client) || busy(server)) {
            throw new SSLException("no handshake after 100 rounds");
        }
        ByteBuffer request = ByteBuffer.allocate(Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
        Protocol.encodeRequest(request, x, 1);
        request.flip();
        client.wrap(request, toServer);
        toServer.flip();
        plain.clear();
        while (toServer.hasRemaining() && server.unwrap(toServer, plain).bytesConsumed() > 0) {
            runTasks(server);
        }
        toServer.compact();
        ByteBuffer answer = ByteBuffer.allocate(Protocol.RESPONSE_BYTES).order(Protocol.BYTE_ORDER);
        answer.putLong(0, x + 1);
        server.wrap(answer, toClient);
        toClient.flip();
        plain.clear();
        while (toClient.hasRemaining() && client.unwrap(toClient, plain).bytesConsumed() > 0) {
            runTasks(client);
        }
        plain.flip();
        if (plain.remaining() != Protocol.RESPONSE_BYTES || plain.order(Protocol.BYTE_ORDER).getLong() != x + 1) {
            throw new SSLException("the answer did not come through the engines");
        }
    }

    private static boolean busy(SSLEngine engine) {
        HandshakeStatus status = engine.getHandshakeStatus();
        return status != HandshakeStatus.NOT_HANDSHAKING && status != HandshakeStatus.FINISHED;
    }

    /** One engine's turn: takes what the peer sent, and sends what it has to. */
    private static void step(SSLEngine engine, ByteBuffer in, ByteBuffer out, ByteBuffer plain) throws SSLException {
        while (true) {
            HandshakeStatus status = engine.getHandshakeStatus();
            if (status == HandshakeStatus.NEED_TASK) {
                runTasks(engine);
            } else if (status == HandshakeStatus.NEED_WRAP) {
                SSLEngineResult result = engine.wrap(ByteBuffer.allocate(0), out);
                if (result.bytesProduced() == 0) {
                    return;
                }
            } else if (status == HandshakeStatus.NEED_UNWRAP || status == HandshakeStatus.NEED_UNWRAP_AGAIN) {
                in.flip();
                SSLEngineResult result = engine.unwrap(in, plain.clear());
                in.compact();
                if (result.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW || result.bytesConsumed() == 0
                        && status != HandshakeStatus.NEED_UNWRAP_AGAIN) {
                    return;
                }
            } else {
                return;
            }
        }
    }

    private static void runTasks(SSLEngine engine) {
        for (Runnable task = engine.getDelegatedTask(); task != null; task = engine.getDelegatedTask()) {
            task.run();
        }
    }

    private static double median(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        return sorted.get(sorted.size() / 2);
    }

    private static List<String> rounded(List<Double> values) {
        return values.stream().map(v -> String.format("%.0f", v)).toList();
    }

    // ---- heap and RSS of a process ----

    private static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /** Live objects of a process by class, {instances, bytes}, and their total as "Total", after a full GC. */
    static Map<String, long[]> histogram(long pid) throws IOException, InterruptedException {
        Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                Long.toString(pid), "GC.class_histogram").redirectErrorStream(true).start();
        Map<String, long[]> classes = new HashMap<>();
        StringBuilder all = new StringBuilder();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(jcmd.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line = out.readLine(); line != null; line = out.readLine()) {
                all.append(line).append('\n');
                Matcher m = HISTOGRAM_LINE.matcher(line);
                if (m.matches()) {
                    classes.merge(m.group(3), new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))},
                            (a, b) -> new long[] {a[0] + b[0], a[1] + b[1]});
                    continue;
                }
                Matcher total = TOTAL_LINE.matcher(line);
                if (total.matches()) {
                    classes.put("Total", new long[] {Long.parseLong(total.group(1)), Long.parseLong(total.group(2))});
                }
            }
        }
        jcmd.waitFor();
        if (!classes.containsKey("Total")) {
            throw new IOException("jcmd " + pid + " GC.class_histogram gave no total: " + all);
        }
        return classes;
    }

    /** The classes whose live bytes grew most from {@code before} to {@code after}, per connection. */
    private Map<String, Double> grown(Map<String, long[]> before, Map<String, long[]> after, int n) {
        Map<String, Double> top = new LinkedHashMap<>();
        after.entrySet().stream()
                .filter(e -> !e.getKey().equals("Total"))
                .map(e -> Map.entry(e.getKey(), e.getValue()[1] - before.getOrDefault(e.getKey(), new long[2])[1]))
                .sorted((a, b) -> Long.compare(b.getValue(), a.getValue()))
                .limit(classes)
                .filter(e -> e.getValue() > 0)
                .forEach(e -> top.put(e.getKey(), e.getValue() / (double) n));
        return top;
    }

    private static long rssBytes(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith("VmRSS:")) {
                return 1024 * Long.parseLong(line.replaceAll("\\D+", ""));
            }
        }
        return 0;
    }
}
