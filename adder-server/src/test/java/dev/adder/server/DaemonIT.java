package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.core.tls.TlsFiles;
import dev.adder.server.daemon.RawHttp;
import dev.adder.testing.Skip;
import dev.adder.testing.TestTls;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.Socket;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The daemon as operators run it: the executable jar in its own process. */
@Timeout(120)
class DaemonIT {

    private static final Path JAR = Path.of(System.getProperty("adder.server.jar", "target/adder-server-all.jar"));
    private static final Pattern LISTENING = Pattern.compile("listening on (.*?); ");

    @TempDir
    Path dir;

    private Process process;
    private int runs;
    private Path stdoutFile;
    private Path stderrFile;

    /**
     * Starts the jar in the test's directory. Its output goes to files:
     * {@link Process#destroy()} closes the pipes of a process, which would
     * lose the lines it writes while it stops.
     */
    private Process start(String... options) throws IOException {
        return startWith(List.of(), options);
    }

    /** Starts the jar with a shell prefix, such as {@code ulimit -n 64;}, before {@code exec java}. */
    private Process startWith(List<String> shellPrefix, String... options) throws IOException {
        return launch(shellPrefix, List.of(), options);
    }

    /** The JVM flags of the systemd unit and the README's recommendation. */
    private static final List<String> RECOMMENDED_FLAGS =
            List.of("-XX:+UseSerialGC", "-Xms8m", "-Xmx64m", "-XX:AutoBoxCacheMax=20000");

    private Process launch(List<String> shellPrefix, List<String> jvmFlags, String... options) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmFlags);
        command.addAll(List.of("-jar", JAR.toString()));
        command.addAll(List.of(options));
        if (!shellPrefix.isEmpty()) {
            List<String> quoted = command.stream().map(arg -> "'" + arg.replace("'", "'\\''") + "'").toList();
            command = List.of("bash", "-c", String.join(" ", shellPrefix) + " exec " + String.join(" ", quoted));
        }
        runs++;
        stdoutFile = dir.resolve("stdout-" + runs + ".txt");
        stderrFile = dir.resolve("stderr-" + runs + ".txt");
        process = new ProcessBuilder(command).directory(dir.toFile())
                .redirectOutput(stdoutFile.toFile()).redirectError(stderrFile.toFile()).start();
        return process;
    }

    private List<String> stdout() throws IOException {
        return Files.readAllLines(stdoutFile);
    }

    private List<String> stderr() throws IOException {
        return Files.readAllLines(stderrFile);
    }

    /** The addresses of the start line, once it is logged. */
    private List<AdderAddress> awaitListening() throws IOException {
        await().atMost(Duration.ofSeconds(30)).until(() -> findListening().isPresent() || !process.isAlive());
        Optional<String> addresses = findListening();
        if (addresses.isEmpty()) {
            throw new AssertionError("the daemon ended before listening: " + stdout() + " " + stderr());
        }
        return List.of(addresses.get().split(", ")).stream().map(AdderAddress::parse).toList();
    }

    private Optional<String> findListening() throws IOException {
        for (String line : stdout()) {
            Matcher m = LISTENING.matcher(line);
            if (m.find()) {
                return Optional.of(m.group(1));
            }
        }
        return Optional.empty();
    }

    private int awaitExit() throws InterruptedException {
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the daemon did not exit");
        return process.exitValue();
    }

    @AfterEach
    void stopDaemon() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** x and y in two separate 8-byte writes, then one 8-byte read: the teaching client. */
    private static long teachingClient(AdderAddress address) throws IOException {
        try (RawClient client = RawClient.connect(address)) {
            client.write(ByteBuffer.allocate(8).order(Protocol.BYTE_ORDER).putLong(0, 7).array());
            client.write(ByteBuffer.allocate(8).order(Protocol.BYTE_ORDER).putLong(0, 10).array());
            return client.read();
        }
    }

    @Test
    void withNoArgumentsItServesAdderSockInTheWorkingDirectory() throws Exception {
        start();
        List<AdderAddress> addresses = awaitListening();
        // the start line gives the socket file's absolute path, the mode it got, the JMX name and the pid
        Path socket = dir.toRealPath().resolve("adder.sock");
        assertEquals(List.of(AdderAddress.unix(socket)), addresses);
        assertEquals(17, teachingClient(AdderAddress.unix(socket)));
        String startLine = findStartLine();
        int bits = 0;
        for (PosixFilePermission permission : Files.getPosixFilePermissions(socket, LinkOption.NOFOLLOW_LINKS)) {
            bits |= 0400 >> permission.ordinal();
        }
        String mode = String.format("0%03o", bits);
        assertTrue(startLine.contains("; socket mode " + mode + "; "), startLine);
        assertTrue(startLine.contains("; JMX dev.adder:type=AdderServer once an agent attaches; metrics off; pid " + process.pid()
                + ", Java "), startLine);
    }

    @Test
    void theStartLineSaysTheModeGivenAndTheJmxNameChosenOrThatJmxIsOff() throws Exception {
        start("--listen", "unix:adder.sock", "--socket-mode", "0660", "--jmx-name", "dev.adder:type=AdderServer,name=orders");
        awaitListening();
        String startLine = findStartLine();
        assertTrue(startLine.contains("; socket mode 0660; "), startLine);
        assertTrue(startLine.contains("; JMX dev.adder:type=AdderServer,name=orders once an agent attaches; "), startLine);
        process.destroy();
        assertEquals(0, awaitExit());
        start("--listen", "tcp:127.0.0.1:0", "--no-jmx");
        awaitListening();
        startLine = findStartLine();
        assertFalse(startLine.contains("socket mode"), startLine);
        assertTrue(startLine.contains("; JMX off; "), startLine);
    }

    /**
     * The statistics are registered in JMX once an agent runs, not before:
     * registering makes the platform MBean server, megabytes that a daemon
     * nobody watches does without. At once when the command line starts an
     * agent; soon after one is started on attach, as jconsole does (here by
     * jcmd; DistributionIT reads the MBean through the agent).
     */
    @Test
    void theStatisticsAreInJmxOnceAnAgentRuns() throws Exception {
        String registered = "statistics registered in JMX as dev.adder:type=AdderServer (a JMX agent started)";
        launch(List.of(), List.of("-Dcom.sun.management.jmxremote"), "--listen", "unix:adder.sock");
        awaitListening();
        assertTrue(findStartLine().contains("; JMX dev.adder:type=AdderServer; metrics off; "), findStartLine());
        process.destroy();
        assertEquals(0, awaitExit());

        start("--listen", "unix:adder.sock");
        awaitListening();
        assertTrue(findStartLine().contains("; JMX dev.adder:type=AdderServer once an agent attaches; "), findStartLine());
        assertFalse(stdout().stream().anyMatch(line -> line.endsWith(registered)), stdout().toString());
        Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                Long.toString(process.pid()), "ManagementAgent.start_local").redirectErrorStream(true).start();
        String said = new String(jcmd.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, jcmd.waitFor(), said);
        await().atMost(Duration.ofSeconds(30)).until(() -> stdout().stream().anyMatch(line -> line.endsWith(registered)));
    }

    @Test
    void answersTheTeachingClientOverUnixAndTcpAndLogsTheRealPort() throws Exception {
        start("--listen", "unix:adder.sock", "--listen", "tcp:127.0.0.1:0");
        List<AdderAddress> addresses = awaitListening();
        assertEquals(2, addresses.size());
        AdderAddress tcp = addresses.get(1);
        assertEquals("127.0.0.1", tcp.host());
        assertTrue(tcp.port() > 0, "the start line shows port " + tcp.port());
        assertEquals(17, teachingClient(AdderAddress.unix(dir.resolve("adder.sock"))));
        assertEquals(17, teachingClient(tcp));
        String startLine = findStartLine();
        assertTrue(startLine.contains("max connections 10000"), startLine);
        assertTrue(startLine.contains("Java " + Runtime.version().feature()), startLine);
    }

    @Test
    void servesPrometheusMetricsThatMoveAsRequestsAreAnswered() throws Exception {
        start("--listen", "unix:adder.sock", "--metrics", "tcp:127.0.0.1:0");
        AdderAddress unix = awaitListening().get(0);
        int port = metricsPort();
        AtomicLong answered = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        Thread caller = new Thread(() -> {
            try (RawClient client = RawClient.connect(unix)) {
                for (long i = 0; !stop.get(); i++) {
                    if (client.add(i, -1) != i - 1) {
                        throw new AssertionError("wrong answer for " + i);
                    }
                    answered.incrementAndGet();
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        caller.start();
        try {
            await().until(() -> answered.get() >= 100);
            double first = metric(scrape(port), "adder_requests_total");
            assertTrue(first >= 100, "requests counted: " + first);
            await().until(() -> metric(scrape(port), "adder_requests_total") >= first + 100);
        } finally {
            stop.set(true);
            caller.join();
        }
        long total = answered.get();
        await().until(() -> metric(scrape(port), "adder_requests_total") == total);
        String text = scrape(port);
        assertEquals(total * Protocol.REQUEST_BYTES, metric(text, "adder_read_bytes_total"));
        assertEquals(total * Protocol.RESPONSE_BYTES, metric(text, "adder_written_bytes_total"));
        assertEquals(1, metric(text, "adder_connections_accepted_total"));
        assertEquals(1, metric(text, "adder_loop_running"));
        assertTrue(metric(text, "adder_loop_busy_seconds_total") > 0, text);
        assertTrue(text.contains("\njvm_memory_used_bytes{"), "the JVM's metrics too");
        process.destroy();
        assertEquals(0, awaitExit());
    }

    @Test
    void theMetricsPassPromtoolsCheck() throws Exception {
        Optional<Path> promtool = Stream.of(System.getenv("PATH").split(":")).map(d -> Path.of(d, "promtool"))
                .filter(Files::isExecutable).findFirst();
        Skip.unless(promtool.isPresent(),
                "promtool is not installed (Debian: apt-get install prometheus): the format check was skipped");
        start("--listen", "tcp:127.0.0.1:0", "--metrics", "tcp:127.0.0.1:0");
        teachingClient(awaitListening().get(0));
        String text = scrape(metricsPort());
        Process check = new ProcessBuilder(promtool.get().toString(), "check", "metrics").redirectErrorStream(true).start();
        try (var in = check.getOutputStream()) {
            in.write(text.getBytes(StandardCharsets.UTF_8));
        }
        String verdict = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, check.waitFor(), verdict + "\n" + text);
    }

    /**
     * The attack that stopped the JDK's HTTP server behind /metrics: requests
     * half sent and held. Against the real daemon, scrapes answer while they
     * are held, other methods and paths are refused, and once they are
     * dropped the daemon's descriptors come back (a few allowed above the
     * baseline for the rest of its JVM: a leak shows as dozens).
     */
    @Test
    void metricsAnswerWhileHalfSentRequestsAreHeldAndRefuseOtherMethodsAndPaths() throws Exception {
        start("--listen", "unix:adder.sock", "--metrics", "tcp:127.0.0.1:0", "--no-jmx");
        awaitListening();
        int port = metricsPort();
        assertTrue(scrape(port).contains("\nadder_requests_total "));
        Path fds = Path.of("/proc", Long.toString(process.pid()), "fd"); // Linux
        long baseline = Files.isDirectory(fds) ? descriptors(fds) : 0;
        List<Socket> held = new ArrayList<>();
        try {
            for (int c = 0; c < 24; c++) {
                held.add(RawHttp.halfSent(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
            }
            for (int scrape = 0; scrape < 3; scrape++) {
                assertTrue(scrape(port).contains("\nadder_requests_total "), "a scrape while 24 requests are held");
            }
            for (String method : List.of("PUT", "DELETE", "TRACE", "POST")) {
                RawHttp.Answer refused = RawHttp.request(port, method, "/metrics");
                assertEquals(405, refused.status(), method);
                assertEquals("GET, HEAD", refused.headers().get("allow"), method);
            }
            assertEquals(404, RawHttp.request(port, "GET", "/").status());
            RawHttp.Answer head = RawHttp.request(port, "HEAD", "/metrics");
            assertEquals(200, head.status());
            assertEquals(0, head.body().length);
        } finally {
            for (Socket socket : held) {
                socket.close();
            }
        }
        if (Files.isDirectory(fds)) {
            for (int round = 0; round < 5; round++) {
                for (int c = 0; c < 40; c++) {
                    Socket dropped = RawHttp.halfSent(port, "GET /metr");
                    dropped.setSoLinger(c % 2 == 0, 0); // every other one reset
                    dropped.close();
                }
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> descriptors(fds) <= baseline + 3);
        }
        assertTrue(scrape(port).contains("\nadder_requests_total "));
        process.destroy();
        assertEquals(0, awaitExit());
    }

    private static long descriptors(Path fds) throws IOException {
        try (Stream<Path> entries = Files.list(fds)) {
            return entries.count();
        }
    }

    /** The port of "metrics http://127.0.0.1:PORT/metrics" in the start line. */
    private int metricsPort() throws IOException {
        Matcher m = Pattern.compile("metrics http://127\\.0\\.0\\.1:(\\d+)/metrics").matcher(findStartLine());
        assertTrue(m.find(), findStartLine());
        return Integer.parseInt(m.group(1));
    }

    private static String scrape(int port) throws IOException {
        HttpURLConnection http = (HttpURLConnection) URI.create("http://127.0.0.1:" + port + "/metrics").toURL()
                .openConnection();
        try (var in = http.getInputStream()) {
            assertEquals(200, http.getResponseCode());
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            http.disconnect();
        }
    }

    /** The value of an unlabelled sample in the text format. */
    private static double metric(String text, String name) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + " (\\S+)$").matcher(text);
        assertTrue(m.find(), name + " in\n" + text);
        return Double.parseDouble(m.group(1));
    }

    private String findStartLine() throws IOException {
        return stdout().stream().filter(l -> l.contains("listening on")).findFirst().orElseThrow();
    }

    @Test
    void sigtermStopsGracefullyExitsZeroRemovesTheSocketAndLogsTotals() throws Exception {
        start("--listen", "unix:adder.sock");
        awaitListening();
        Path socket = dir.resolve("adder.sock");
        assertEquals(17, teachingClient(AdderAddress.unix(socket)));
        process.destroy(); // SIGTERM
        assertEquals(0, awaitExit());
        assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS));
        List<String> lines = stdout();
        String last = lines.get(lines.size() - 1);
        assertTrue(last.contains("adder stopped: 1 request answered for 1 connection (0 refused); 16 bytes in, 8 bytes out"),
                last);
        assertEquals(List.of(), stderr());
    }

    /**
     * Ten thousand connections open at once, each answered several times
     * while all are open. The daemon runs in its own process: server and
     * clients in one JVM would need more file descriptors than the usual hard
     * limit of 20,000.
     */
    @Test
    void tenThousandConcurrentConnectionsOnUnixAndTcpAreEachAnswered() throws Exception {
        int connections = 10_000;
        start("--listen", "unix:adder.sock", "--listen", "tcp:127.0.0.1:0", "--max-connections", "11000");
        List<AdderAddress> addresses = awaitListening();
        for (AdderAddress address : List.of(AdderAddress.unix(dir.resolve("adder.sock")), addresses.get(1))) {
            List<RawClient> clients = new ArrayList<>(connections);
            try {
                for (int c = 0; c < connections; c++) {
                    clients.add(RawClient.connect(address));
                }
                for (long round = 0; round < 3; round++) {
                    for (int c = 0; c < connections; c++) {
                        clients.get(c).write(RawClient.request(c, round * 1_000_000));
                    }
                    for (int c = 0; c < connections; c++) {
                        long answer = clients.get(c).read();
                        if (answer != c + round * 1_000_000) {
                            assertEquals(c + round * 1_000_000, answer, address + " connection " + c);
                        }
                    }
                }
            } finally {
                for (RawClient client : clients) {
                    client.close();
                }
            }
        }
        process.destroy();
        assertEquals(0, awaitExit());
        List<String> lines = stdout();
        assertTrue(lines.get(lines.size() - 1).contains("adder stopped: 60000 requests answered for 20000 connections"
                + " (0 refused)"), lines.get(lines.size() - 1));
    }

    /**
     * Out of file descriptors, accept() fails; a level-triggered listener
     * would then spin. The daemon pauses accepting instead, keeps serving, and
     * accepts again once descriptors are free.
     */
    @Test
    void runningOutOfFileDescriptorsPausesAcceptingAndRecovers() throws Exception {
        startWith(List.of("ulimit -n 96;"), "--listen", "tcp:127.0.0.1:0");
        AdderAddress address = awaitListening().get(0);
        List<RawClient> clients = new ArrayList<>();
        try {
            // more connections than the daemon has descriptors left: the kernel queues them all
            for (int c = 0; c < 150; c++) {
                clients.add(RawClient.connect(address));
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> stdout().stream()
                    .anyMatch(line -> line.contains("WARN") && line.contains("pausing accepts")));
            assertTrue(process.isAlive());
            assertEquals(17, clients.get(0).add(7, 10), "an accepted client is no longer served");
        } finally {
            for (RawClient client : clients) {
                client.close();
            }
        }
        // descriptors are free again: a new client is accepted and served
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            try (RawClient later = RawClient.connect(address)) {
                assertEquals(30, later.add(10, 20));
            }
        });
        process.destroy();
        assertEquals(0, awaitExit());
    }

    @Test
    void badOptionPrintsOneLineAndExitsTwo() throws Exception {
        start("--max-connections", "many");
        assertEquals(2, awaitExit());
        assertEquals(List.of("adder-server: --max-connections: 'many' is not a whole number from 1 to 1000000"
                + " (try --help)"), stderr());
    }

    @Test
    void unknownOptionPrintsOneLineAndExitsTwo() throws Exception {
        start("--frobnicate");
        assertEquals(2, awaitExit());
        assertEquals(List.of("adder-server: unknown option --frobnicate (try --help)"), stderr());
    }

    @Test
    void regularFileAtTheSocketPathExitsOneAndIsUntouched() throws Exception {
        Path file = dir.resolve("adder.sock");
        Files.writeString(file, "keep me");
        start("--listen", "unix:adder.sock");
        assertEquals(1, awaitExit());
        assertEquals(List.of("adder-server: cannot listen on unix:adder.sock: the path exists and is a regular file,"
                + " not a socket; it was left untouched (remove it or choose another path)"), stderr());
        assertEquals("keep me", Files.readString(file));
    }

    @Test
    void helpListsEveryOptionAndVersionPrintsIt() throws Exception {
        start("--help");
        assertEquals(0, awaitExit());
        String help = String.join("\n", stdout());
        assertTrue(help.startsWith("Usage: "), help);
        for (String option : List.of("--listen", "--max-connections", "--idle-timeout", "--max-pending-output",
                "--max-pending-output-total", "--drain-timeout", "--busy-poll", "--slow-turn-warning", "--loops", "--socket-mode", "--jmx-name", "--no-jmx", "--help", "--version",
                "--max-handshakes", "--handshake-timeout")) {
            assertTrue(help.contains(option), option + " is missing from --help");
        }
        start("--version");
        assertEquals(0, awaitExit());
        List<String> version = stdout();
        assertEquals(1, version.size());
        assertTrue(version.get(0).matches("adder-server \\d+\\.\\d+\\.\\d+.*"), version.get(0));
    }

    /**
     * Clients that pipeline and never read used to make the loop run out of
     * heap within a second (32 of them with -Xmx64m): memory was bounded per
     * connection, not in total. Now the answers held for them all stay within
     * the server-wide budget, and a client that reads is served throughout.
     */
    @Test
    void sixtyFourClientsThatNeverReadDoNotTakeDownADaemonWithTheRecommendedHeap() throws Exception {
        launch(List.of(), RECOMMENDED_FLAGS, "--listen", "unix:adder.sock", "--no-jmx", "--metrics", "tcp:127.0.0.1:0");
        awaitListening();
        AdderAddress address = AdderAddress.unix(dir.resolve("adder.sock"));
        Matcher budgetMatch = Pattern.compile("\\((\\d+) in total\\)").matcher(findStartLine());
        assertTrue(budgetMatch.find(), findStartLine());
        long budget = Long.parseLong(budgetMatch.group(1));
        List<RawClient> flooders = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        try (RawClient checked = RawClient.connect(address)) {
            for (int c = 0; c < 64; c++) {
                RawClient flooder = RawClient.connect(address);
                flooders.add(flooder);
                Thread thread = new Thread(flooder::pipelineWithoutReading, "flooder-" + c);
                thread.start();
                threads.add(thread);
            }
            long calls = 0;
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (System.nanoTime() - end < 0) {
                assertEquals(calls + 1, checked.add(calls, 1), "call " + calls);
                calls++;
            }
            assertTrue(process.isAlive(), "the daemon died: " + stderr());
            long heapAfterGc = heapUsedAfterGc(process.pid(), metricsPort());
            long margin = 16L * 1024 * 1024;
            System.out.printf("never-readers: budget %d bytes, heap after GC %d bytes, %d checked calls in 10 s%n",
                    budget, heapAfterGc, calls);
            assertTrue(heapAfterGc <= budget + margin,
                    "heap after GC " + heapAfterGc + " bytes, over the budget " + budget + " plus " + margin);
        } finally {
            for (RawClient flooder : flooders) {
                flooder.close();
            }
            for (Thread thread : threads) {
                thread.join();
            }
        }
        process.destroy();
        assertEquals(0, awaitExit());
        assertEquals(List.of(), stderr());
    }

    /**
     * Runs a full GC in the process, then reads its heap's use from its own
     * metrics (the Prometheus client's documented {@code jvm_memory_used_bytes}),
     * in bytes: not from a JDK tool's printout, whose wording changes between
     * JDKs (jcmd's GC.heap_info did, from Java 17 to 25).
     */
    private static long heapUsedAfterGc(long pid, int metricsPort) throws IOException, InterruptedException {
        jcmd(pid, "GC.run");
        Matcher used = Pattern.compile("(?m)^jvm_memory_used_bytes\\{area=\"heap\"} (\\S+)$").matcher(scrape(metricsPort));
        assertTrue(used.find(), "jvm_memory_used_bytes{area=\"heap\"} in the scrape");
        return (long) Double.parseDouble(used.group(1));
    }

    private static String jcmd(long pid, String command) throws IOException, InterruptedException {
        Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                Long.toString(pid), command).redirectErrorStream(true).start();
        String output = new String(jcmd.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(jcmd.waitFor(60, TimeUnit.SECONDS), "jcmd did not finish");
        assertEquals(0, jcmd.exitValue(), output);
        return output;
    }

    /**
     * Two daemons started at once on a path holding a stale socket file (what
     * SIGKILL leaves), with one fixed TCP port as well: exactly one serves,
     * and the other never deletes its socket file.
     */
    @Test
    void ofTwoDaemonsRacingForAStalePathExactlyOneServesAndKeepsItsSocket() throws Exception {
        Path socket = dir.resolve("race.sock");
        for (int round = 0; round < 8; round++) {
            try (java.nio.channels.ServerSocketChannel dead = java.nio.channels.ServerSocketChannel.open(
                    java.net.StandardProtocolFamily.UNIX)) {
                dead.bind(java.net.UnixDomainSocketAddress.of(socket)); // closed without removing its file: stale
            }
            int port;
            try (java.net.ServerSocket free = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
                port = free.getLocalPort();
            }
            String[] options = {"--listen", "unix:race.sock", "--listen", "tcp:127.0.0.1:" + port, "--no-jmx"};
            Process first = start(options);
            Path firstOut = stdoutFile;
            Process second = start(options);
            Path secondOut = stdoutFile;
            await().atMost(Duration.ofSeconds(60)).until(() -> (!first.isAlive() || listens(firstOut))
                    && (!second.isAlive() || listens(secondOut)));
            boolean firstWon = first.isAlive() && listens(firstOut);
            boolean secondWon = second.isAlive() && listens(secondOut);
            Process winner = firstWon ? first : second;
            Process loser = firstWon ? second : first;
            try {
                assertTrue(firstWon ^ secondWon, "round " + round + ": both or neither started");
                assertTrue(loser.waitFor(60, TimeUnit.SECONDS));
                assertEquals(1, loser.exitValue(), "round " + round + ": the loser's exit status");
                assertEquals(17, teachingClient(AdderAddress.unix(socket)), "round " + round + ": the Unix socket");
                assertEquals(17, teachingClient(AdderAddress.tcp("127.0.0.1", port)), "round " + round + ": TCP");
                winner.destroy();
                assertTrue(winner.waitFor(60, TimeUnit.SECONDS));
                assertEquals(0, winner.exitValue());
                assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS));
            } finally {
                first.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
                second.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            }
        }
    }

    private static boolean listens(Path stdout) throws IOException {
        return Files.readAllLines(stdout).stream().anyMatch(line -> LISTENING.matcher(line).find());
    }

    /**
     * A SIGTERM in the moment after the socket file appears, while the start
     * is finishing (JMX registration), used to kill the daemon with status
     * 143 and leave its socket file, and with a socket mode its private
     * directory. The stop handling is now in place before anything is bound.
     */
    @Test
    void sigtermRightAfterTheSocketAppearsStopsCleanlyAndLeavesNothing() throws Exception {
        Path socket = dir.resolve("adder.sock");
        for (int round = 0; round < 6; round++) {
            if (round % 2 == 0) {
                start("--listen", "unix:adder.sock");
            } else {
                start("--listen", "unix:adder.sock", "--socket-mode", "0660");
            }
            await().pollInterval(Duration.ofMillis(1)).atMost(Duration.ofSeconds(60))
                    .until(() -> Files.exists(socket, LinkOption.NOFOLLOW_LINKS) || !process.isAlive());
            process.destroy(); // SIGTERM
            assertEquals(0, awaitExit(), "round " + round + ": " + stdout() + " " + stderr());
            assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS), "round " + round + ": the socket file stayed");
            try (var entries = Files.list(dir)) {
                List<String> left = entries.map(p -> p.getFileName().toString())
                        .filter(name -> name.startsWith(".adder-") || name.endsWith(".sock")).toList();
                assertEquals(List.of(), left, "round " + round);
            }
        }
    }

    /**
     * A FIFO planted at the lock file's path used to hang the daemon in
     * open(2) for good, with no output, deaf to SIGTERM. It is refused now,
     * at once, and left in place.
     */
    @Test
    void aFifoAtTheLockFilesPathExitsOneWithOneLine() throws Exception {
        Path fifo = dir.resolve("adder.sock.lock");
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).redirectErrorStream(true).start();
        Skip.unless(mkfifo.waitFor(30, TimeUnit.SECONDS) && mkfifo.exitValue() == 0, "mkfifo is not available");
        start("--listen", "unix:adder.sock", "--no-jmx");
        assertEquals(1, awaitExit());
        assertEquals(List.of("adder-server: cannot listen on unix:adder.sock: its lock file adder.sock.lock exists and is"
                + " a FIFO, not a regular file; it was left untouched (remove it)"), stderr());
        assertFalse(Files.isRegularFile(fifo, LinkOption.NOFOLLOW_LINKS));
        assertTrue(Files.exists(fifo, LinkOption.NOFOLLOW_LINKS));
    }

    /**
     * SIGTERM at moments spread over the start, from the JVM's first
     * milliseconds to serving. Once the daemon's code runs, a signal means
     * a graceful stop and exit 0; before it, while the JVM boots, the JVM's
     * own default holds (death by the signal, 143, or, seen on Java 17 in
     * the middle of its initialisation, an "Error occurred during
     * initialization of VM" and 1), and nothing of the daemon's exists yet.
     * Whatever the moment, nothing is left behind, and a signal after the
     * start line always gives 0 and no error.
     */
    @Test
    void sigtermAtAnyMomentOfTheStartLeavesNothingAndExitsZeroOnceTheDaemonRuns() throws Exception {
        Path socket = dir.resolve("adder.sock");
        int zeros = 0;
        for (int round = 0; round < 12; round++) {
            start("--listen", "unix:adder.sock", "--socket-mode", "0660", "--no-jmx");
            long delayMillis = round * 50L; // 0 to 550 ms: the jar serves in about 0.3-1 s here
            if (delayMillis > 0) {
                process.waitFor(delayMillis, TimeUnit.MILLISECONDS);
            }
            boolean started = findListening().isPresent();
            process.destroy(); // SIGTERM
            int status = awaitExit();
            String what = "round " + round + " (" + delayMillis + " ms): " + stdout() + " " + stderr();
            if (started) {
                assertEquals(0, status, what);
                assertEquals(List.of(), stderr(), what);
            }
            zeros += status == 0 ? 1 : 0;
            assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS), what + ": the socket file stayed");
            try (var entries = Files.list(dir)) {
                assertEquals(List.of(), entries.map(p -> p.getFileName().toString())
                        .filter(name -> name.startsWith(".adder-") || name.endsWith(".sock")).toList(), what);
            }
        }
        System.out.printf("SIGTERM during start: %d of 12 rounds exited 0%n", zeros);
    }

    /**
     * A relative socket path is the way round the 106-byte limit (the
     * address's own error says so), but the start line names the socket by
     * its absolute path, which was made an address again and so checked
     * against that limit: the daemon bound, then main threw, with a stack
     * trace on stderr, no start line, and no one left watching the event
     * loop.
     */
    @Test
    void aRelativeSocketPathWhoseAbsolutePathIsLongIsServedAndNamedInTheStartLine() throws Exception {
        Path deep = Files.createDirectories(dir.resolve("d".repeat(60)).resolve("e".repeat(60)));
        Path socket = deep.resolve("adder.sock");
        assertTrue(socket.toString().length() > AdderAddress.MAX_UNIX_PATH_BYTES, socket.toString());
        startWith(List.of("cd", "'" + deep + "'", "&&"), "--listen", "unix:adder.sock", "--no-jmx");
        await().atMost(Duration.ofSeconds(30)).until(() -> findListening().isPresent() || !process.isAlive()
                || !stderr().isEmpty());
        assertEquals(List.of(), stderr());
        assertEquals(Optional.of("unix:" + socket), findListening());
        assertTrue(Files.exists(socket, LinkOption.NOFOLLOW_LINKS));
        process.destroy(); // SIGTERM
        assertEquals(0, awaitExit());
        assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS), "the socket file stayed");
    }

    /**
     * Where {@code /proc} cannot be read (a chroot or a sandbox without it),
     * the daemon could not tell its own user, and skipped the check that an
     * existing lock file is its own: run as root, it took another user's
     * file. It still refuses it.
     */
    @Test
    void withoutProcTheLockFileOfAnotherUserIsStillRefused() throws Exception {
        Skip.unless(((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) == 0,
                "needs root, to give a file to another user and to hide /proc");
        Process probe = new ProcessBuilder("unshare", "-m", "true").redirectErrorStream(true).start();
        Skip.unless(probe.waitFor(30, TimeUnit.SECONDS) && probe.exitValue() == 0, "unshare -m is not available");
        Path lock = dir.resolve("adder.sock.lock");
        Files.writeString(lock, "");
        Files.setAttribute(lock, "unix:uid", 65534);
        String owner = Files.getOwner(lock).getName();
        // a mount namespace of its own with an empty /proc; the launcher finds its libraries through
        // /proc/self/exe, so they are named for it
        Path lib = Path.of(System.getProperty("java.home"), "lib");
        startWith(List.of("unshare", "-m", "bash", "-c", "'mount -t tmpfs no-proc /proc && export LD_LIBRARY_PATH="
                + lib + ":" + lib.resolve("server") + " && \"$@\"'", "hide-proc"),
                "--listen", "unix:adder.sock", "--no-jmx");
        await().atMost(Duration.ofSeconds(30)).until(() -> findListening().isPresent() || !process.isAlive());
        assertEquals(Optional.empty(), findListening(), "it served, with another user's lock file");
        assertEquals(1, awaitExit(), stdout() + " " + stderr());
        assertEquals(1, stderr().size(), stderr().toString());
        assertTrue(stderr().get(0).startsWith("adder-server: cannot listen on unix:adder.sock: its lock file adder.sock.lock"
                + " belongs to " + owner + " (uid 65534), not to this server's user"), stderr().get(0));
        assertFalse(Files.exists(dir.resolve("adder.sock"), LinkOption.NOFOLLOW_LINKS));
    }

    /**
     * A start that fails logs why, and nothing about stopping: the stop hook
     * used to log "stopping: answering what was received" and "adder
     * stopped: 0 requests answered" after a start that never served.
     */
    @Test
    void aStartThatFailsLogsNoStopLines() throws Exception {
        Files.writeString(dir.resolve("adder.sock"), "keep me");
        start("--listen", "unix:adder.sock", "--no-jmx");
        assertEquals(1, awaitExit());
        assertEquals(1, stderr().size(), stderr().toString());
        assertEquals(List.of(), stdout());
    }

    /**
     * The stop hook is main's first act, so that a signal from then on exits
     * 0. Building it bootstrapped the JVM's lambda machinery first (a method
     * reference, and a lambda in the constructor): some 60 classes spun and
     * 11 to 31 ms here before the hook was in place, in which SIGTERM still
     * ended the process with 143. Nothing of a lambda is loaded from Main's
     * loading to the hook's registration.
     */
    @Test
    void theStopHookIsRegisteredBeforeAnyLambdaIsBootstrapped() throws Exception {
        Path classes = dir.resolve("classes.txt");
        launch(List.of(), List.of("-Xlog:class+load=info:file=" + classes), "--version");
        assertEquals(0, awaitExit());
        List<String> loaded = Files.readAllLines(classes).stream()
                .map(line -> line.replaceFirst("^(\\[[^]]*\\])+ ", "").replaceFirst(" .*", "")).toList();
        int main = loaded.indexOf("dev.adder.server.daemon.Main");
        int hooks = loaded.indexOf("java.lang.ApplicationShutdownHooks");
        assertTrue(main >= 0 && hooks > main, "Main at " + main + ", the hooks at " + hooks);
        List<String> between = loaded.subList(main + 1, hooks);
        assertEquals(List.of(), between.stream()
                .filter(name -> name.contains("Lambda") || name.startsWith("jdk.internal.org.objectweb.asm.")).toList(),
                "loaded between Main and its stop hook: " + between.size() + " classes");
    }

    /** The test certificates in the daemon's directory, the server's copied to the files it is told to read. */
    private TestTls liveCertificates() throws IOException {
        TestTls tls = TestTls.in(dir);
        Files.copy(tls.serverCert(), dir.resolve("live.pem"), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(tls.serverKey(), dir.resolve("live.key"), StandardCopyOption.REPLACE_EXISTING);
        return tls;
    }

    private Process startTls() throws IOException {
        return start("--listen", "tls:127.0.0.1:0", "--tls-cert", "live.pem", "--tls-key", "live.key", "--no-jmx");
    }

    /** The certificate the daemon presents to a new connection, after a sum on it. */
    private static X509Certificate presentedToANewConnection(AdderAddress address) throws IOException {
        try (RawClient client = RawClient.connect(address)) {
            assertEquals(17, client.add(7, 10));
            return presented(client);
        }
    }

    private static X509Certificate presented(RawClient client) throws IOException {
        try {
            return (X509Certificate) ((TlsSocketChannel) client.channel).engine().getSession().getPeerCertificates()[0];
        } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
            throw new AssertionError("no certificate", e);
        }
    }

    private void hangUp() throws Exception {
        Process kill = new ProcessBuilder("kill", "-HUP", Long.toString(process.pid())).inheritIO().start();
        assertEquals(0, kill.waitFor());
    }

    @Test
    void sighupReadsTheTlsFilesAgainForNewConnectionsAndABrokenOneKeepsThoseInUse() throws Exception {
        TestTls tls = liveCertificates();
        X509Certificate first = TlsFiles.certificates(tls.serverCert()).get(0);
        X509Certificate second = TlsFiles.certificates(tls.file("server2.pem")).get(0);
        startTls();
        AdderAddress address = awaitListening().get(0);
        assertTrue(address.isTls(), address.toString());
        try (RawClient before = RawClient.connect(address)) {
            assertEquals(17, before.add(7, 10));
            assertEquals(first, presented(before));

            Files.copy(tls.file("server2.pem"), dir.resolve("live.pem"), StandardCopyOption.REPLACE_EXISTING);
            Files.copy(tls.file("server2.key"), dir.resolve("live.key"), StandardCopyOption.REPLACE_EXISTING);
            hangUp();
            await().atMost(Duration.ofSeconds(30)).until(() -> presentedToANewConnection(address).equals(second));
            assertEquals(3, before.add(1, 2), "the connection made before the reload is still served");
            assertEquals(first, presented(before));

            Files.writeString(dir.resolve("live.key"), "not a key");
            hangUp();
            await().atMost(Duration.ofSeconds(30)).until(() -> stdout().stream().anyMatch(l -> l.contains("TLS reload failed")));
            List<String> failures = stdout().stream().filter(l -> l.contains("TLS reload failed")).toList();
            assertEquals(1, failures.size(), failures.toString());
            assertTrue(failures.get(0).contains(" ERROR ") && failures.get(0).contains("live.key"), failures.get(0));
            assertEquals(second, presentedToANewConnection(address), "the certificates in use stay");
            assertEquals(11, before.add(5, 6));
            assertTrue(process.isAlive(), "SIGHUP stopped the daemon");
        }
        process.destroy();
        assertEquals(0, awaitExit());
        assertEquals(List.of(), stderr());
    }

    /**
     * --handshake-timeout reaches the server: a TCP client that connects to the tls: listener and
     * says nothing is closed, and the warning names the timeout given (the default is 10 s).
     */
    @Test
    void aHandshakeNotDoneWithinHandshakeTimeoutIsClosedAndTheWarningNamesIt() throws Exception {
        liveCertificates();
        start("--listen", "tls:127.0.0.1:0", "--tls-cert", "live.pem", "--tls-key", "live.key", "--no-jmx",
                "--handshake-timeout", "300ms");
        AdderAddress address = awaitListening().get(0);
        try (Socket silent = new Socket(address.host(), address.port())) {
            silent.setSoTimeout(60_000);
            assertEquals(-1, silent.getInputStream().read(), "the server closed the silent connection");
        }
        await().atMost(Duration.ofSeconds(30))
                .until(() -> stdout().stream().anyMatch(l -> l.contains("no TLS handshake within 300 ms")));
        process.destroy();
        assertEquals(0, awaitExit());
        assertEquals(List.of(), stderr());
    }

    /**
     * A SIGHUP while the daemon starts, before its listeners open (a service manager's reload
     * during the start), used to stop it: the JVM's default, until the reload handler was installed
     * after the start. The start is held in the options, reading the keystore's password from a
     * FIFO the test writes only after the SIGHUP was taken: the daemon serves, and reads the TLS
     * files again once it does.
     */
    @Test
    void aSighupBeforeTheListenersOpenDoesNotStopTheDaemonAndReloadsOnceItServes() throws Exception {
        TestTls tls = TestTls.in(dir);
        Path password = dir.resolve("password");
        Process mkfifo = new ProcessBuilder("mkfifo", password.toString()).redirectErrorStream(true).start();
        Skip.unless(mkfifo.waitFor(30, TimeUnit.SECONDS) && mkfifo.exitValue() == 0, "mkfifo is not available");
        start("--listen", "tls:127.0.0.1:0", "--tls-keystore", tls.serverKeyStore().toString(),
                "--tls-keystore-password-file", "password", "--no-jmx");
        java.util.concurrent.CountDownLatch opened = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch write = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.ExecutorService writer = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            Future<?> written = writer.submit(() -> {
                try (var out = Files.newOutputStream(password)) { // returns once the daemon opened the FIFO to read
                    opened.countDown();
                    write.await();
                    out.write((TestTls.KEY_STORE_PASSWORD + "\n").getBytes(StandardCharsets.US_ASCII));
                }
                return null;
            });
            assertTrue(opened.await(60, TimeUnit.SECONDS), "the daemon never opened the password file");
            hangUp();
            await().atMost(Duration.ofSeconds(30)).until(() -> stdout().stream().anyMatch(l -> l.contains("SIGHUP during the start"))
                    || !process.isAlive());
            assertTrue(process.isAlive(), "SIGHUP stopped the starting daemon: " + stdout() + " " + stderr());
            write.countDown();
            written.get(60, TimeUnit.SECONDS);
        } finally {
            write.countDown();
            writer.shutdownNow();
        }
        AdderAddress address = awaitListening().get(0);
        await().atMost(Duration.ofSeconds(30)).until(() -> stdout().stream().anyMatch(l -> l.contains("TLS certificates reloaded")));
        try (RawClient client = RawClient.connect(address)) {
            assertEquals(17, client.add(7, 10));
        }
        process.destroy();
        assertEquals(0, awaitExit());
        assertEquals(List.of(), stderr());
    }

    /** Without a tls: listener a SIGHUP is logged and ignored: the daemon serves on, and stops cleanly later. */
    @Test
    void aSighupWithoutATlsListenerIsLoggedAndIgnored() throws Exception {
        start("--listen", "unix:adder.sock", "--no-jmx");
        AdderAddress address = awaitListening().get(0);
        hangUp();
        await().atMost(Duration.ofSeconds(30)).until(() -> stdout().stream().anyMatch(l -> l.contains("SIGHUP ignored"))
                || !process.isAlive());
        assertTrue(process.isAlive(), "SIGHUP stopped the daemon: " + stdout() + " " + stderr());
        assertEquals(17, teachingClient(address));
        process.destroy();
        assertEquals(0, awaitExit());
        assertEquals(List.of(), stderr());
    }

    @Test
    void opensslSClientGetsSeventeenOverTls13() throws Exception {
        Path openssl = Path.of("/usr/bin/openssl");
        Skip.unless(Files.isExecutable(openssl), "no " + openssl + ": the openssl s_client interop test needs it");
        TestTls tls = liveCertificates();
        startTls();
        AdderAddress address = awaitListening().get(0);
        // -quiet: only the server's bytes on standard output; -nocommands: a request's bytes are not commands
        Process client = new ProcessBuilder(openssl.toString(), "s_client", "-connect", "127.0.0.1:" + address.port(),
                "-tls1_3", "-CAfile", tls.ca().toString(), "-verify_return_error", "-verify_hostname", "localhost",
                "-quiet", "-nocommands").redirectError(dir.resolve("s_client.err").toFile()).start();
        try {
            client.getOutputStream().write(RawClient.request(7, 10));
            client.getOutputStream().flush();
            Future<byte[]> answer = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
                Thread thread = new Thread(r, "s_client-reader");
                thread.setDaemon(true);
                return thread;
            }).submit(() -> client.getInputStream().readNBytes(Protocol.RESPONSE_BYTES));
            byte[] bytes = answer.get(60, TimeUnit.SECONDS);
            assertEquals(Protocol.RESPONSE_BYTES, bytes.length, () -> "s_client said: " + readQuietly(dir.resolve("s_client.err")));
            assertEquals(17, Protocol.decodeResponse(ByteBuffer.wrap(bytes).order(Protocol.BYTE_ORDER)));
        } finally {
            client.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void pythonsSslModuleGetsSeventeenOverTls13() throws Exception {
        Skip.unless(commandRuns("python3", "-c", "import ssl"), "no python3 with its ssl module: the Python interop test needs it");
        TestTls tls = liveCertificates();
        startTls();
        AdderAddress address = awaitListening().get(0);
        String script = String.join("\n",
                "import socket, ssl, struct, sys",
                "context = ssl.create_default_context(cafile=sys.argv[1])",
                "context.minimum_version = ssl.TLSVersion.TLSv1_3",
                "with socket.create_connection(('127.0.0.1', int(sys.argv[2]))) as raw:",
                "    with context.wrap_socket(raw, server_hostname='localhost') as s:",
                "        s.sendall(struct.pack('<qq', 7, 10))",
                "        answer = b''",
                "        while len(answer) < 8:",
                "            chunk = s.recv(8 - len(answer))",
                "            if not chunk:",
                "                raise ConnectionError('the server closed the connection')",
                "            answer += chunk",
                "        print(struct.unpack('<q', answer)[0], s.version())");
        Process python = new ProcessBuilder("python3", "-c", script, tls.ca().toString(), Integer.toString(address.port()))
                .redirectErrorStream(true).start();
        assertTrue(python.waitFor(60, TimeUnit.SECONDS), "python did not finish");
        String output = new String(python.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, python.exitValue(), output);
        assertEquals("17 TLSv1.3", output);
    }

    private static boolean commandRuns(String... command) {
        try {
            Process probe = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return probe.waitFor(30, TimeUnit.SECONDS) && probe.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static String readQuietly(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return "(nothing: " + e + ")";
        }
    }
}
