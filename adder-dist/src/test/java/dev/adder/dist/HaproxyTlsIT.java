package dev.adder.dist;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.tls.TlsFiles;
import dev.adder.testing.Skip;
import dev.adder.testing.TestTls;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TLS recipe of docs/haproxy, run as written (its paths, addresses and
 * ports moved into a temporary directory): two daemons from the tarball on
 * {@code tls:} listeners that require a client certificate, behind HAProxy,
 * which verifies theirs, presents its own, and health-checks them with the
 * protocol inside TLS; 32 clients, half through its TCP frontend and half
 * through its Unix one (plain text, as on HAProxy's host), call without pause
 * while one daemon is killed with SIGKILL and started again, the other is
 * frozen with SIGSTOP and resumed, then has its certificate renewed and
 * reloaded with SIGHUP, and both are restarted by the recipe's own
 * rolling-restart.sh (its restart command the test's, which restarts the
 * test's daemon with SIGTERM). Every answer is checked. The daemons run as
 * the systemd unit runs them: on the tarball's own runtime when it has one.
 * Skipped, saying so, without haproxy, or without socat (the script's).
 */
@Timeout(420)
class HaproxyTlsIT {

    private static final Path RECIPE = Path.of(System.getProperty("adder.haproxy.tls.config"));
    private static final Path ROLLING_RESTART = Path.of(System.getProperty("adder.haproxy.rolling.restart"));
    private static final String JAVA_HOME = System.getProperty("java.home");
    private static final int CALLERS = 32;
    private static final String BACKEND = Haproxy.BACKEND;
    private static final List<String> PHASES = List.of("steady", "kill", "hang", "renewal", "rolling", "after");

    @TempDir
    Path dir;
    private Daemons daemons;
    private Haproxy haproxy;
    private Process script;
    private final Map<String, Integer> ports = new LinkedHashMap<>();
    /** Requests the test sent to a daemon itself. */
    private int sent;

    @AfterEach
    void stopEverything() throws InterruptedException {
        if (script != null) {
            script.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        if (daemons != null) {
            daemons.killAll();
        }
        if (haproxy != null) {
            haproxy.kill();
        }
    }

    @Test
    void twoTlsDaemonsBehindHaproxyThroughAKillAHangARenewalAndTheRollingRestartScript() throws Exception {
        Optional<Path> binary = Haproxy.binary();
        Skip.unless(binary.isPresent(), "haproxy is not installed (apt-get install haproxy): the HAProxy TLS integration test was skipped");
        Skip.unless(onPath("socat"), "socat is not installed (apt-get install socat), which the recipe's rolling-restart.sh"
                + " needs: the HAProxy TLS integration test was skipped");
        Path home = Tarball.unpack(dir);
        boolean bundled = Files.isExecutable(home.resolve("runtime/bin/java"));
        String javaHome = bundled ? null : JAVA_HOME; // the launcher's choice without JAVA_HOME, as under systemd
        daemons = new Daemons(home, dir, javaHome);

        // the certificates: a CA; a server certificate for localhost and 127.0.0.1, a copy for each daemon
        // (one is renewed alone); HAProxy's client certificate, its key beside it as the recipe has it
        TestTls tls = TestTls.in(Files.createDirectory(dir.resolve("tls")));
        Path haproxyTls = Files.createDirectory(dir.resolve("haproxy-tls"));
        Files.copy(tls.ca(), haproxyTls.resolve("ca.pem"));
        Files.copy(tls.file("client.pem"), haproxyTls.resolve("haproxy.pem"));
        privateCopy(tls.file("client.key"), haproxyTls.resolve("haproxy.pem.key"));
        for (String name : List.of("a", "b")) {
            Files.copy(tls.serverCert(), dir.resolve(name + ".pem"));
            privateCopy(tls.serverKey(), dir.resolve(name + ".key"));
            ports.put(name, freePort());
            daemons.define(name, "--listen", "tls:127.0.0.1:" + ports.get(name), "--tls-cert", dir.resolve(name + ".pem").toString(),
                    "--tls-key", dir.resolve(name + ".key").toString(), "--tls-client-ca", tls.ca().toString());
        }

        int frontPort = freePort();
        Path admin = dir.resolve("admin.sock");
        Path front = dir.resolve("front.sock");
        Path config = dir.resolve("haproxy.cfg");
        Files.writeString(config, Haproxy.adapt(Files.readString(RECIPE), Map.of(
                "stats socket /run/haproxy/adder-admin.sock", "stats socket " + admin,
                "bind 127.0.0.1:7400", "bind 127.0.0.1:" + frontPort,
                "bind unix@/run/haproxy/adder.sock", "bind unix@" + front,
                "server a 10.0.0.11:7401", "server a 127.0.0.1:" + ports.get("a"),
                "server b 10.0.0.12:7401", "server b 127.0.0.1:" + ports.get("b"),
                "verifyhost adder-a.internal", "verifyhost localhost",
                "verifyhost adder-b.internal", "verifyhost localhost",
                "/etc/haproxy/adder-tls/", haproxyTls + "/")));
        for (String name : daemons.names()) {
            daemons.start(name);
        }
        Path haproxyLog = dir.resolve("haproxy.log");
        haproxy = Haproxy.start(binary.get(), config, admin, haproxyLog);
        Haproxy stats = haproxy;
        await("both backends UP").atMost(Duration.ofSeconds(60)).ignoreExceptions()
                .until(() -> stats.status("a").equals("UP") && stats.status("b").equals("UP"));
        Map<String, Long> checksFailedAtStart = checksFailed(stats);
        // health checks that failed while every daemon served (none, as a rule: the figure shows)
        Map<String, Long> calmChecksFailed = new LinkedHashMap<>();

        List<String> addresses = new ArrayList<>();
        for (int i = 0; i < CALLERS; i++) {
            addresses.add(i % 2 == 0 ? "tcp:127.0.0.1:" + frontPort : "unix:" + front);
        }
        Map<String, Object> figures = new LinkedHashMap<>();
        String scriptOutput = "";
        Callers callers = new Callers(addresses, "steady", builder -> builder);
        try {
            long checks = totalChecksFailed(stats);
            callers.progress(5_000);
            calmChecksFailed.put("steady", totalChecksFailed(stats) - checks);

            // a daemon killed outright: its TLS port refuses, HAProxy marks it down, the calls go to the other
            callers.phase("kill");
            long killed = System.nanoTime();
            daemons.process("a").destroyForcibly(); // SIGKILL
            await("a marked DOWN").atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.status("a").startsWith("DOWN"));
            figures.put("kill: a marked DOWN after (ms)", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed));
            callers.everyClientAdvances("a is down");
            daemons.process("a").waitFor(30, TimeUnit.SECONDS);
            long restarted = System.nanoTime();
            daemons.start("a");
            await("a UP again").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.status("a").equals("UP"));
            figures.put("kill: a UP after its restart (ms)", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - restarted));
            callers.progress(5_000);

            // a daemon that hangs: the TLS handshake of the health check times out, HAProxy marks it down
            // and cuts its sessions; the clients that were on it replay their calls through HAProxy to a
            callers.phase("hang");
            long frozen = System.nanoTime();
            daemons.signal("b", "STOP");
            await("b marked DOWN").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.status("b").startsWith("DOWN"));
            figures.put("hang: b marked DOWN after (ms)", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - frozen));
            await("b's sessions cut").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.sessions("b") == 0);
            callers.everyClientAdvances("b is hung");
            daemons.signal("b", "CONT");
            await("b UP again").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.status("b").equals("UP"));
            callers.progress(5_000);

            // a certificate renewed: new files put in place (written, then renamed over the old), SIGHUP;
            // b serves on, presents the new certificate, and HAProxy's checks of it pass
            callers.phase("renewal");
            checks = totalChecksFailed(stats);
            renew(tls.file("server2.pem"), dir.resolve("b.pem"));
            renew(tls.file("server2.key"), dir.resolve("b.key"));
            daemons.signal("b", "HUP");
            await("b reloaded its TLS files").atMost(Duration.ofSeconds(30))
                    .until(() -> daemons.logText("b").contains("TLS certificates reloaded"));
            assertTrue(daemons.process("b").isAlive(), "b stopped on SIGHUP\n" + daemons.logText("b"));
            assertArrayEquals(TlsFiles.certificates(tls.file("server2.pem")).get(0).getEncoded(),
                    presented(ports.get("b"), tls.clientWithCertificate()).getEncoded(), "b presents its renewed certificate");
            callers.progress(5_000);
            assertEquals("UP", stats.status("b"));
            calmChecksFailed.put("renewal", totalChecksFailed(stats) - checks);

            // the rolling restart, by the recipe's script: its restart command asks the test, which
            // restarts the daemon with SIGTERM, as systemctl restart does
            callers.phase("rolling");
            Path restart = dir.resolve("restart-adder");
            Files.writeString(restart, String.join("\n",
                    "#!/bin/sh",
                    "# the test's restart of instance $1: asks the test (which owns the daemons), waits until it did",
                    "touch '" + dir + "/restart-'\"$1\"",
                    "i=0",
                    "while [ ! -e '" + dir + "/restarted-'\"$1\" ]; do",
                    "  i=$((i + 1)); [ \"$i\" -le 1200 ] || { echo \"the test did not restart $1\" >&2; exit 1; }",
                    "  sleep 0.05",
                    "done",
                    ""));
            Files.setPosixFilePermissions(restart, PosixFilePermissions.fromString("rwx------"));
            List<String> command = new ArrayList<>(List.of("sh", ROLLING_RESTART.toString()));
            for (String name : daemons.names()) {
                command.add(name + "=tls:127.0.0.1:" + ports.get(name));
            }
            ProcessBuilder rolling = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("rolling-restart.out").toFile());
            Map<String, String> env = rolling.environment();
            env.put("ADMIN", admin.toString());
            env.put("ADDER_HOME", home.toString());
            env.put("TIMEOUT", "60");
            env.put("RESTART", restart.toString());
            env.put("TLS_CA", haproxyTls.resolve("ca.pem").toString());
            env.put("TLS_CERT", haproxyTls.resolve("haproxy.pem").toString());
            env.put("TLS_KEY", haproxyTls.resolve("haproxy.pem.key").toString());
            if (javaHome == null) {
                env.remove("JAVA_HOME");
            } else {
                env.put("JAVA_HOME", javaHome);
            }
            long rollingStarted = System.nanoTime();
            script = rolling.start();
            Process running = script;
            // until the script ends, each poll carries out the restarts it asks for
            await("rolling-restart.sh to end").atMost(Duration.ofSeconds(240)).pollInterval(Duration.ofMillis(20))
                    .until(() -> {
                        for (String name : daemons.names()) {
                            Path asked = dir.resolve("restart-" + name);
                            if (Files.exists(asked)) {
                                Files.delete(asked);
                                daemons.stop(name); // SIGTERM: answers what it read, closes; the rest is replayed on the other
                                daemons.start(name);
                                Files.createFile(dir.resolve("restarted-" + name));
                            }
                        }
                        return !running.isAlive();
                    });
            scriptOutput = Files.readString(dir.resolve("rolling-restart.out"));
            assertEquals(0, script.exitValue(), "rolling-restart.sh failed:\n" + scriptOutput);
            figures.put("rolling: the script took (ms)", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - rollingStarted));
            for (String name : daemons.names()) {
                assertTrue(scriptOutput.contains(name + ": up"), scriptOutput);
                assertEquals("UP", stats.status(name));
            }
            callers.progress(3_000);
            callers.phase("after");
            checks = totalChecksFailed(stats);
            callers.progress(3_000);
            calmChecksFailed.put("after", totalChecksFailed(stats) - checks);
        } finally {
            callers.stop();
        }
        for (String name : daemons.names()) {
            daemons.stop(name);
        }

        StringBuilder report = new StringBuilder("HAProxy over TLS, " + CALLERS + " clients, daemons on "
                + (bundled ? "the tarball's runtime" : "JAVA_HOME " + JAVA_HOME) + ":").append(callers.report(PHASES));
        figures.forEach((what, value) -> report.append(String.format("%n  %s: %s", what, value)));
        report.append(String.format("%n  health checks failed before the clients started (the daemons starting): %s",
                checksFailedAtStart));
        report.append(String.format("%n  health checks failed while every daemon served (steady, renewal, after): %s", calmChecksFailed));
        report.append(String.format("%n  calls replayed by the clients: %,d", callers.replayed()));
        report.append(String.format("%n  HAProxy's state changes:%n    %s", Files.readAllLines(haproxyLog).stream()
                .filter(line -> line.contains("Server " + BACKEND + "/")).map(line -> line.replaceFirst("^\\[WARNING\\]\\s+\\(\\d+\\) : ", ""))
                .collect(Collectors.joining(String.format("%n    ")))));
        report.append(String.format("%n  rolling-restart.sh said:%n    %s", scriptOutput.strip().replace("\n", String.format("%n    "))));
        System.out.println(report);

        callers.assertOutcomes(PHASES, List.of("steady", "renewal", "rolling", "after"), report.toString());
        for (String name : daemons.names()) {
            assertTrue(daemons.logText(name).contains("adder stopped: "), daemons.logText(name));
        }
    }

    /**
     * The checks of the certificates are real: a daemon whose certificate does not name the host
     * HAProxy expects never comes up, nor one that HAProxy reaches with a client certificate of
     * another CA; the daemon, all the while, answers a client of its CA, and answers nothing else.
     */
    @Test
    void aDaemonOfAnotherNameOrAHaproxyOfAnotherCaNeverComesUp() throws Exception {
        Optional<Path> binary = Haproxy.binary();
        Skip.unless(binary.isPresent(), "haproxy is not installed (apt-get install haproxy): the HAProxy TLS integration test was skipped");
        Path home = Tarball.unpack(dir);
        daemons = new Daemons(home, dir, Files.isExecutable(home.resolve("runtime/bin/java")) ? null : JAVA_HOME);
        TestTls tls = TestTls.in(Files.createDirectory(dir.resolve("tls")));
        Path haproxyTls = Files.createDirectory(dir.resolve("haproxy-tls"));
        Files.copy(tls.file("client.pem"), haproxyTls.resolve("haproxy.pem"));
        privateCopy(tls.file("client.key"), haproxyTls.resolve("haproxy.pem.key"));
        Path stranger = Files.createDirectory(dir.resolve("stranger"));
        Files.copy(tls.file("other-client.pem"), stranger.resolve("haproxy.pem"));
        privateCopy(tls.file("other-client.key"), stranger.resolve("haproxy.pem.key"));
        int port = freePort();
        daemons.define("d", "--listen", "tls:127.0.0.1:" + port, "--tls-cert", tls.serverCert().toString(),
                "--tls-key", tls.serverKey().toString(), "--tls-client-ca", tls.ca().toString());
        Path admin = dir.resolve("admin.sock");
        Path config = dir.resolve("haproxy.cfg");
        // both servers are the one daemon, whose certificate names localhost: a expects adder-a.internal
        // (with HAProxy's right certificate), b expects localhost but presents a stranger's certificate
        Files.writeString(config, Haproxy.adapt(Files.readString(RECIPE), Map.of(
                "stats socket /run/haproxy/adder-admin.sock", "stats socket " + admin,
                "bind 127.0.0.1:7400", "bind 127.0.0.1:" + freePort(),
                "bind unix@/run/haproxy/adder.sock", "bind unix@" + dir.resolve("front.sock"),
                "server a 10.0.0.11:7401", "server a 127.0.0.1:" + port,
                "server b 10.0.0.12:7401", "server b 127.0.0.1:" + port,
                "ca-file /etc/haproxy/adder-tls/ca.pem", "ca-file " + tls.ca(),
                "verifyhost adder-a.internal crt /etc/haproxy/adder-tls/haproxy.pem",
                "verifyhost adder-a.internal crt " + haproxyTls.resolve("haproxy.pem"),
                "verifyhost adder-b.internal crt /etc/haproxy/adder-tls/haproxy.pem",
                "verifyhost localhost crt " + stranger.resolve("haproxy.pem"))));
        daemons.start("d");
        haproxy = Haproxy.start(binary.get(), config, admin, dir.resolve("haproxy.log"));
        Haproxy stats = haproxy;
        SSLContext client = tls.clientWithCertificate();
        await("the daemon answering a client of its CA").atMost(Duration.ofSeconds(60)).ignoreExceptions()
                .until(() -> checkRequest(port, client) == 24691356902469L);
        // the daemon listens: HAProxy's checks now fail in TLS. a's in the handshake, on the certificate's
        // name (L6RSP); b's just after, as the daemon's refusal of HAProxy's certificate arrives (TLS 1.3
        // ends the client's side of the handshake first: SOCKERR or so). Six checks more, of which two
        // passing would have brought either up: both stay down throughout
        await("a and b stay DOWN").during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(100))
                .until(() -> stats.status("a").startsWith("DOWN") && stats.status("b").startsWith("DOWN"));
        Map<String, String> reasons = new LinkedHashMap<>();
        for (String server : List.of("a", "b")) {
            String status = stats.field(server, "check_status").replaceFirst("^\\* ", "");
            reasons.put(server, status + " " + stats.field(server, "last_chk"));
            assertTrue(stats.status(server).startsWith("DOWN"), server + ": " + stats.status(server) + ", " + reasons);
            assertTrue(!status.startsWith("L4") && !status.endsWith("OK"), server + ": " + reasons);
        }
        assertEquals(24691356902469L, checkRequest(port, client), "the daemon still answers a client of its CA");
        daemons.stop("d");
        System.out.println("HAProxy over TLS, certificates refused: a (another name) and b (another CA's client): " + reasons);
        // the daemon answered the test's requests, and not one of HAProxy's health checks
        assertTrue(daemons.logText("d").contains("adder stopped: " + sent + " requests answered"), "sent " + sent
                + "\n" + daemons.logText("d"));
    }

    /** The health check's request sent by the test itself, straight to the daemon: its answer. */
    private long checkRequest(int port, SSLContext context) throws IOException {
        try (SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", port)) {
            socket.setSoTimeout(5_000);
            socket.startHandshake();
            socket.getOutputStream().write(HexFormat.of().parseHex("79df0d8648700000ccc480612ca6ffff"));
            socket.getOutputStream().flush();
            sent++;
            byte[] answer = socket.getInputStream().readNBytes(8);
            return ByteBuffer.wrap(answer).order(ByteOrder.LITTLE_ENDIAN).getLong();
        }
    }

    /** Health checks failed so far, by server (HAProxy's chkfail). */
    private static Map<String, Long> checksFailed(Haproxy stats) throws IOException {
        Map<String, Long> failed = new LinkedHashMap<>();
        for (String server : List.of("a", "b")) {
            failed.put(server, Long.parseLong(stats.field(server, "chkfail")));
        }
        return failed;
    }

    private static long totalChecksFailed(Haproxy stats) throws IOException {
        return checksFailed(stats).values().stream().mapToLong(Long::longValue).sum();
    }

    /** The certificate a daemon presents now, to a client with HAProxy's certificate. */
    private static Certificate presented(int port, SSLContext context) throws IOException {
        try (SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", port)) {
            socket.setSoTimeout(10_000);
            socket.startHandshake();
            return socket.getSession().getPeerCertificates()[0];
        }
    }

    /** The key files as an operator would keep them: mode 0600. */
    private static void privateCopy(Path from, Path to) throws IOException {
        Files.copy(from, to);
        Files.setPosixFilePermissions(to, PosixFilePermissions.fromString("rw-------"));
    }

    /** Replaces a file as an operator should: the new one written beside it, then renamed over it. */
    private static void renew(Path from, Path to) throws IOException {
        Path next = to.resolveSibling(to.getFileName() + ".new");
        Files.copy(from, next, StandardCopyOption.REPLACE_EXISTING);
        Files.setPosixFilePermissions(next, Files.getPosixFilePermissions(to));
        Files.move(next, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static boolean onPath(String program) {
        for (String directory : (System.getenv().getOrDefault("PATH", "") + ":/usr/bin:/bin").split(":")) {
            if (!directory.isEmpty() && Files.isExecutable(Path.of(directory, program))) {
                return true;
            }
        }
        return false;
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress("127.0.0.1", 0));
            return socket.getLocalPort();
        }
    }
}
