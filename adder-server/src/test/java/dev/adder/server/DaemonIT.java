package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", JAR.toString()));
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
        assertEquals(List.of(AdderAddress.parse("unix:adder.sock")), addresses);
        assertEquals(17, teachingClient(AdderAddress.unix(dir.resolve("adder.sock"))));
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
        assertTrue(last.contains("adder stopped: 1 requests answered for 1 connections (0 refused); 16 bytes in, 8 bytes out"),
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
        assertEquals(List.of("adder-server: --max-connections: 'many' is not a whole number from 1 to 2147483647"
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
                "--drain-timeout", "--busy-poll", "--socket-mode", "--no-jmx", "--help", "--version")) {
            assertTrue(help.contains(option), option + " is missing from --help");
        }
        start("--version");
        assertEquals(0, awaitExit());
        List<String> version = stdout();
        assertEquals(1, version.size());
        assertTrue(version.get(0).matches("adder-server \\d+\\.\\d+\\.\\d+.*"), version.get(0));
    }
}
