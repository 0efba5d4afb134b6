package dev.adder.dist;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.client.AdderClient;
import dev.adder.testing.Skip;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The HAProxy recipe of docs/haproxy, run as written (its paths and ports
 * moved into a temporary directory): two daemons from the tarball, one on a
 * Unix socket, one on TCP, behind HAProxy; 32 clients, half through its TCP
 * frontend and half through its Unix one, call without pause while one
 * daemon is killed with SIGKILL and started again, the other is frozen with
 * SIGSTOP (a hung backend, whose sessions HAProxy must cut) and resumed, and
 * both are restarted one after the other as the rolling-restart recipe does.
 * Every answer is checked. Skipped, saying so, when haproxy is not installed.
 */
@Timeout(300)
class HaproxyIT {

    private static final Path RECIPE = Path.of(System.getProperty("adder.haproxy.config"));
    private static final String JAVA_HOME = System.getProperty("java.home");
    private static final int CALLERS = 32;
    private static final String BACKEND = Haproxy.BACKEND;
    private static final List<String> PHASES = List.of("steady", "kill", "hang", "rolling", "after");

    @TempDir
    Path dir;
    private Daemons daemons;
    private Haproxy haproxy;
    private final Map<String, String> listen = new LinkedHashMap<>();

    @AfterEach
    void stopEverything() throws InterruptedException {
        if (daemons != null) {
            daemons.killAll();
        }
        if (haproxy != null) {
            haproxy.kill();
        }
    }

    @Test
    void twoDaemonsBehindHaproxyThroughAKillAHangAndARollingRestart() throws Exception {
        Optional<Path> binary = Haproxy.binary();
        Skip.unless(binary.isPresent(), "haproxy is not installed (apt-get install haproxy): the HAProxy integration test was skipped");
        daemons = new Daemons(Tarball.unpack(dir), dir, JAVA_HOME);
        int frontPort = freePort();
        int backendPort = freePort();
        listen.put("a", "unix:" + dir.resolve("a.sock"));
        listen.put("b", "tcp:127.0.0.1:" + backendPort);
        Path admin = dir.resolve("admin.sock");
        Path front = dir.resolve("front.sock");
        Path config = dir.resolve("haproxy.cfg");
        Files.writeString(config, Haproxy.adapt(Files.readString(RECIPE), Map.of(
                "stats socket /run/haproxy/adder-admin.sock", "stats socket " + admin,
                "bind 127.0.0.1:7400", "bind 127.0.0.1:" + frontPort,
                "bind unix@/run/haproxy/adder.sock", "bind unix@" + front,
                "server a unix@/run/adder/a/adder.sock", "server a unix@" + dir.resolve("a.sock"),
                "server b 127.0.0.1:7401", "server b 127.0.0.1:" + backendPort)));
        for (Map.Entry<String, String> daemon : listen.entrySet()) {
            daemons.define(daemon.getKey(), "--listen", daemon.getValue());
            daemons.start(daemon.getKey());
        }
        haproxy = Haproxy.start(binary.get(), config, admin, dir.resolve("haproxy.log"));
        Haproxy stats = haproxy;
        await("both backends UP").atMost(Duration.ofSeconds(30)).ignoreExceptions()
                .until(() -> stats.status("a").equals("UP") && stats.status("b").equals("UP"));

        List<String> addresses = new ArrayList<>();
        for (int i = 0; i < CALLERS; i++) {
            addresses.add(i % 2 == 0 ? "tcp:127.0.0.1:" + frontPort : "unix:" + front);
        }
        Map<String, Long> figures = new LinkedHashMap<>();
        Callers callers = new Callers(addresses, "steady", builder -> builder);
        try {
            callers.progress(5_000);

            // a daemon killed outright: HAProxy marks it down, the clients' calls on it go to the other
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

            // a daemon that hangs: the health check times out, HAProxy marks it down and cuts its sessions
            callers.phase("hang");
            long frozen = System.nanoTime();
            daemons.signal("b", "STOP");
            await("b marked DOWN").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.status("b").startsWith("DOWN"));
            figures.put("hang: b marked DOWN after (ms)", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - frozen));
            // still frozen: its sessions were cut (on-marked-down shutdown-sessions), and the clients that
            // were on it, their calls replayed through HAProxy to a, are answered again
            await("b's sessions cut").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.sessions("b") == 0);
            callers.everyClientAdvances("b is hung");
            daemons.signal("b", "CONT");
            await("b UP again").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.status("b").equals("UP"));
            callers.progress(5_000);

            // the rolling restart of docs/haproxy/rolling-restart.sh, with SIGTERM for systemctl restart
            callers.phase("rolling");
            for (String name : listen.keySet()) {
                stats.command("set server " + BACKEND + "/" + name + " state drain");
                daemons.stop(name); // SIGTERM: answers what it read, closes; the rest is replayed on the other
                daemons.start(name);
                await(name + " answering").atMost(Duration.ofSeconds(30)).ignoreExceptions()
                        .until(() -> answers(listen.get(name)));
                stats.command("set server " + BACKEND + "/" + name + " state ready");
                await(name + " UP").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                        .until(() -> stats.status(name).equals("UP"));
                callers.progress(3_000);
            }
            callers.phase("after");
            callers.progress(3_000);
        } finally {
            callers.stop();
        }
        for (String name : listen.keySet()) {
            daemons.stop(name);
        }

        StringBuilder report = new StringBuilder("HAProxy run, " + CALLERS + " clients:").append(callers.report(PHASES));
        figures.forEach((what, value) -> report.append(String.format("%n  %s: %d", what, value)));
        report.append(String.format("%n  calls replayed by the clients: %,d", callers.replayed()));
        System.out.println(report);

        callers.assertOutcomes(PHASES, List.of("steady", "rolling", "after"), report.toString());
        for (String name : listen.keySet()) {
            assertTrue(daemons.logText(name).contains("adder stopped: "), daemons.logText(name));
        }
    }

    private static boolean answers(String address) {
        try (AdderClient client = AdderClient.builder(address).replay(false).connectTimeout(Duration.ofSeconds(1))
                .callTimeout(Duration.ofSeconds(1)).connect()) {
            return client.add(123456789012345L, -98765432109876L) == 24691356902469L;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress("127.0.0.1", 0));
            return socket.getLocalPort();
        }
    }
}
