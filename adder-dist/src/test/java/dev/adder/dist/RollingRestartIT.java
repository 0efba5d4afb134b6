package dev.adder.dist;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.testing.Skip;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The recipe's rolling-restart.sh when a restart fails: the instance it
 * drained is put back to ready (HAProxy's health check decides again), it
 * says so, exits non-zero, and leaves the instances after it alone. Behind
 * HAProxy as in {@link HaproxyIT}: the recipe's haproxy.cfg in a temporary
 * directory, a daemon of the tarball as server a (b has none, and is DOWN).
 * Skipped, saying so, without haproxy or socat.
 */
@Timeout(180)
class RollingRestartIT {

    private static final Path RECIPE = Path.of(System.getProperty("adder.haproxy.config"));
    private static final Path ROLLING_RESTART = Path.of(System.getProperty("adder.haproxy.rolling.restart"));
    private static final String JAVA_HOME = System.getProperty("java.home");

    @TempDir
    Path dir;
    private Daemons daemons;
    private Haproxy haproxy;
    private Path home;
    private Path admin;

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
    void aRestartThatFailsPutsTheInstanceBackToReadyAndStops() throws Exception {
        start();
        // the restart command fails, as systemctl does where systemd does not run
        Script run = rollingRestart(Map.of("RESTART", "false"), "a=unix:" + dir.resolve("a.sock"), "b=tcp:127.0.0.1:1");
        assertEquals(1, run.status, run.output);
        assertTrue(run.output.contains("a: the restart failed (exit status 1); stopping here"), run.output);
        assertTrue(run.output.contains("a: put back to ready (out of drain)"), run.output);
        assertFalse(run.output.contains("b: drain"), run.output);
        await("a UP, not left in DRAIN").atMost(Duration.ofSeconds(10)).until(() -> haproxy.status("a").equals("UP"));
    }

    @Test
    void anInstanceThatDoesNotAnswerAfterItsRestartIsPutBackToReadyAndStops() throws Exception {
        start();
        // the restart "succeeds", but nothing answers at the address given: the wait for an answer times out
        Script run = rollingRestart(Map.of("RESTART", "true", "TIMEOUT", "1"), "a=unix:" + dir.resolve("nobody.sock"));
        assertEquals(1, run.status, run.output);
        assertTrue(run.output.contains("a: not answering after 1s; stopping here"), run.output);
        assertTrue(run.output.contains("a: put back to ready (out of drain)"), run.output);
        await("a UP, not left in DRAIN").atMost(Duration.ofSeconds(10)).until(() -> haproxy.status("a").equals("UP"));
    }

    /** HAProxy on the recipe's configuration, daemon a of the tarball UP behind it. */
    private void start() throws Exception {
        Optional<Path> binary = Haproxy.binary();
        Skip.unless(binary.isPresent(), "haproxy is not installed (apt-get install haproxy): the rolling restart's test was skipped");
        Skip.unless(Files.isExecutable(Path.of("/usr/bin/socat")) || Files.isExecutable(Path.of("/bin/socat")),
                "socat is not installed (apt-get install socat), which rolling-restart.sh needs: its test was skipped");
        home = Tarball.unpack(dir);
        daemons = new Daemons(home, dir, JAVA_HOME);
        admin = dir.resolve("admin.sock");
        Path config = dir.resolve("haproxy.cfg");
        Files.writeString(config, Haproxy.adapt(Files.readString(RECIPE), Map.of(
                "stats socket /run/haproxy/adder-admin.sock", "stats socket " + admin,
                "bind 127.0.0.1:7400", "bind 127.0.0.1:" + freePort(),
                "bind unix@/run/haproxy/adder.sock", "bind unix@" + dir.resolve("front.sock"),
                "server a unix@/run/adder/a/adder.sock", "server a unix@" + dir.resolve("a.sock"),
                "server b 127.0.0.1:7401", "server b 127.0.0.1:" + freePort())));
        daemons.define("a", "--listen", "unix:" + dir.resolve("a.sock"));
        daemons.start("a");
        haproxy = Haproxy.start(binary.get(), config, admin, dir.resolve("haproxy.log"));
        await("a UP").atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> haproxy.status("a").equals("UP"));
    }

    private record Script(int status, String output) {
    }

    private Script rollingRestart(Map<String, String> settings, String... instances) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("sh", ROLLING_RESTART.toString()));
        command.addAll(List.of(instances));
        Path output = dir.resolve("rolling-restart.out");
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile());
        builder.environment().put("ADMIN", admin.toString());
        builder.environment().put("ADDER_HOME", home.toString());
        builder.environment().put("JAVA_HOME", JAVA_HOME);
        builder.environment().putAll(settings);
        Process script = builder.start();
        assertTrue(script.waitFor(120, TimeUnit.SECONDS), "rolling-restart.sh did not end");
        return new Script(script.exitValue(), Files.readString(output));
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress("127.0.0.1", 0));
            return socket.getLocalPort();
        }
    }
}
