package dev.adder.dist;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.client.AdderClient;
import dev.adder.client.AdderException;
import dev.adder.client.AdderTimeoutException;
import dev.adder.testing.Skip;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
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
    private static final String BACKEND = "adders";

    @TempDir
    Path dir;
    private Path home;
    private Process haproxy;
    private final Map<String, Process> daemons = new ConcurrentHashMap<>();
    private final Map<String, String> listen = new LinkedHashMap<>();

    /** Calls answered right, answered wrong, failed at their deadline, failed otherwise: by phase. */
    private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();
    private final List<String> failures = Collections.synchronizedList(new ArrayList<>());
    private final AtomicReference<String> phase = new AtomicReference<>("steady");
    /** Right answers of each client. */
    private final AtomicLongArray answered = new AtomicLongArray(CALLERS);

    @AfterEach
    void stopEverything() throws InterruptedException {
        for (Process daemon : daemons.values()) {
            daemon.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        if (haproxy != null) {
            haproxy.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void twoDaemonsBehindHaproxyThroughAKillAHangAndARollingRestart() throws Exception {
        Optional<Path> binary = haproxyBinary();
        Skip.unless(binary.isPresent(), "haproxy is not installed (apt-get install haproxy): the HAProxy integration test was skipped");
        home = Tarball.unpack(dir);
        int frontPort = freePort();
        int backendPort = freePort();
        listen.put("a", "unix:" + dir.resolve("a.sock"));
        listen.put("b", "tcp:127.0.0.1:" + backendPort);
        Path admin = dir.resolve("admin.sock");
        Path front = dir.resolve("front.sock");
        Path config = dir.resolve("haproxy.cfg");
        Files.writeString(config, adapt(Files.readString(RECIPE), Map.of(
                "stats socket /run/haproxy/adder-admin.sock", "stats socket " + admin,
                "bind 127.0.0.1:7400", "bind 127.0.0.1:" + frontPort,
                "bind unix@/run/haproxy/adder.sock", "bind unix@" + front,
                "server a unix@/run/adder/a/adder.sock", "server a unix@" + dir.resolve("a.sock"),
                "server b 127.0.0.1:7401", "server b 127.0.0.1:" + backendPort)));
        for (String name : listen.keySet()) {
            start(name);
        }
        Path haproxyLog = dir.resolve("haproxy.log");
        haproxy = new ProcessBuilder(binary.get().toString(), "-f", config.toString(), "-db")
                .redirectErrorStream(true).redirectOutput(haproxyLog.toFile()).start();
        Stats stats = new Stats(admin);
        await("both backends UP").atMost(Duration.ofSeconds(30)).ignoreExceptions()
                .until(() -> stats.status("a").equals("UP") && stats.status("b").equals("UP"));

        AtomicBoolean stop = new AtomicBoolean();
        ExecutorService pool = Executors.newFixedThreadPool(CALLERS);
        List<AdderClient> clients = new ArrayList<>();
        List<Future<?>> callers = new ArrayList<>();
        long replayed = 0;
        Map<String, Long> figures = new LinkedHashMap<>();
        try {
            for (int i = 0; i < CALLERS; i++) {
                String address = i % 2 == 0 ? "tcp:127.0.0.1:" + frontPort : "unix:" + front;
                AdderClient client = AdderClient.builder(address).callTimeout(Duration.ofSeconds(10)).connect();
                clients.add(client);
                int index = i;
                callers.add(pool.submit(() -> call(client, index, stop)));
            }
            progress(5_000);

            // a daemon killed outright: HAProxy marks it down, the clients' calls on it go to the other
            phase.set("kill");
            long killed = System.nanoTime();
            daemons.get("a").destroyForcibly(); // SIGKILL
            await("a marked DOWN").atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.status("a").startsWith("DOWN"));
            figures.put("kill: a marked DOWN after (ms)", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed));
            everyClientAdvances("a is down");
            daemons.get("a").waitFor(30, TimeUnit.SECONDS);
            long restarted = System.nanoTime();
            start("a");
            await("a UP again").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.status("a").equals("UP"));
            figures.put("kill: a UP after its restart (ms)", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - restarted));
            progress(5_000);

            // a daemon that hangs: the health check times out, HAProxy marks it down and cuts its sessions
            phase.set("hang");
            long frozen = System.nanoTime();
            signal("STOP", daemons.get("b"));
            await("b marked DOWN").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.status("b").startsWith("DOWN"));
            figures.put("hang: b marked DOWN after (ms)", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - frozen));
            // still frozen: its sessions were cut (on-marked-down shutdown-sessions), and the clients that
            // were on it, their calls replayed through HAProxy to a, are answered again
            await("b's sessions cut").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.sessions("b") == 0);
            everyClientAdvances("b is hung");
            signal("CONT", daemons.get("b"));
            await("b UP again").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                    .until(() -> stats.status("b").equals("UP"));
            progress(5_000);

            // the rolling restart of docs/haproxy/rolling-restart.sh, with SIGTERM for systemctl restart
            phase.set("rolling");
            for (String name : listen.keySet()) {
                stats.command("set server " + BACKEND + "/" + name + " state drain");
                Process old = daemons.get(name);
                old.destroy(); // SIGTERM: answers what it read, closes; the rest is replayed on the other
                assertTrue(old.waitFor(60, TimeUnit.SECONDS), name + " did not stop");
                assertEquals(0, old.exitValue(), name + " exit status\n" + Files.readString(log(name)));
                start(name);
                await(name + " answering").atMost(Duration.ofSeconds(30)).ignoreExceptions()
                        .until(() -> answers(listen.get(name)));
                stats.command("set server " + BACKEND + "/" + name + " state ready");
                await(name + " UP").atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20))
                        .until(() -> stats.status(name).equals("UP"));
                progress(3_000);
            }
            phase.set("after");
            progress(3_000);
        } finally {
            stop.set(true);
            for (Future<?> caller : callers) {
                caller.get(60, TimeUnit.SECONDS);
            }
            pool.shutdownNow();
            for (AdderClient client : clients) {
                replayed += client.replayedCalls();
                client.close();
            }
        }
        for (String name : listen.keySet()) {
            Process daemon = daemons.get(name);
            daemon.destroy();
            assertTrue(daemon.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, daemon.exitValue(), Files.readString(log(name)));
        }

        StringBuilder report = new StringBuilder("HAProxy run, " + CALLERS + " clients:");
        for (String p : List.of("steady", "kill", "hang", "rolling", "after")) {
            report.append(String.format("%n  %-8s %,9d right, %d wrong, %d failed at their deadline, %d failed otherwise",
                    p, count(p, "right"), count(p, "wrong"), count(p, "timeout"), count(p, "failed")));
        }
        figures.forEach((what, value) -> report.append(String.format("%n  %s: %d", what, value)));
        report.append(String.format("%n  calls replayed by the clients: %,d", replayed));
        System.out.println(report);

        for (String p : List.of("steady", "kill", "hang", "rolling", "after")) {
            assertEquals(0, count(p, "wrong"), p + ": wrong answers\n" + report);
            assertEquals(0, count(p, "failed"), p + ": calls failed other than at their deadline: " + failures + "\n" + report);
            assertTrue(count(p, "right") > 0, p + ": no call answered\n" + report);
        }
        for (String p : List.of("steady", "rolling", "after")) {
            assertEquals(0, count(p, "timeout"), p + ": calls failed at their deadline: " + failures + "\n" + report);
        }
        for (String name : listen.keySet()) {
            assertTrue(Files.readString(log(name)).contains("adder stopped: "), Files.readString(log(name)));
        }
    }

    /** One client calling until told to stop; every answer checked, every failure counted. */
    private Void call(AdderClient client, int index, AtomicBoolean stop) {
        SplittableRandom random = new SplittableRandom(index);
        while (!stop.get()) {
            String during = phase.get();
            long x = random.nextLong();
            long y = random.nextLong();
            try {
                boolean right = client.add(x, y) == x + y;
                counts(during, right ? "right" : "wrong").increment();
                if (right) {
                    answered.incrementAndGet(index);
                }
            } catch (AdderTimeoutException e) {
                counts(during, "timeout").increment();
                remember(during, e);
            } catch (AdderException e) {
                counts(during, "failed").increment();
                remember(during, e);
            }
        }
        return null;
    }

    private void remember(String during, AdderException e) {
        if (failures.size() < 10) {
            failures.add(during + ": " + e.getMessage());
        }
    }

    private LongAdder counts(String during, String outcome) {
        return counts.computeIfAbsent(during + ":" + outcome, key -> new LongAdder());
    }

    private long count(String during, String outcome) {
        LongAdder adder = counts.get(during + ":" + outcome);
        return adder == null ? 0 : adder.sum();
    }

    /** Waits until every client has had a right answer more than now. */
    private void everyClientAdvances(String condition) {
        long[] before = new long[CALLERS];
        for (int i = 0; i < CALLERS; i++) {
            before[i] = answered.get(i);
        }
        await("every client answered while " + condition).atMost(Duration.ofSeconds(60)).until(() -> {
            for (int i = 0; i < CALLERS; i++) {
                if (answered.get(i) <= before[i]) {
                    return false;
                }
            }
            return true;
        });
    }

    /** Waits for this many more right answers in the current phase. */
    private void progress(long more) {
        String now = phase.get();
        long target = count(now, "right") + more;
        await(more + " more answers during " + now).atMost(Duration.ofSeconds(60))
                .until(() -> count(now, "right") >= target);
    }

    private void start(String name) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(home.resolve("bin/adder-server").toString(), "--listen",
                listen.get(name)).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log(name).toFile()));
        builder.environment().put("JAVA_HOME", JAVA_HOME);
        daemons.put(name, builder.start());
    }

    private Path log(String name) {
        return dir.resolve(name + ".log");
    }

    private static boolean answers(String address) {
        try (AdderClient client = AdderClient.builder(address).replay(false).connectTimeout(Duration.ofSeconds(1))
                .callTimeout(Duration.ofSeconds(1)).connect()) {
            return client.add(123456789012345L, -98765432109876L) == 24691356902469L;
        }
    }

    private static void signal(String signal, Process process) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).inheritIO().start();
        assertEquals(0, kill.waitFor());
    }

    /** The recipe with each of its site-specific strings replaced; each must be found. */
    private static String adapt(String recipe, Map<String, String> replacements) {
        String adapted = recipe;
        for (Map.Entry<String, String> replacement : replacements.entrySet()) {
            assertTrue(adapted.contains(replacement.getKey()), "the recipe no longer has: " + replacement.getKey());
            adapted = adapted.replace(replacement.getKey(), replacement.getValue());
        }
        return adapted;
    }

    private static Optional<Path> haproxyBinary() {
        List<String> directories = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)));
        directories.add("/usr/sbin");
        directories.add("/usr/local/sbin");
        return directories.stream().filter(d -> !d.isEmpty()).map(d -> Path.of(d, "haproxy"))
                .filter(Files::isExecutable).findFirst();
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress("127.0.0.1", 0));
            return socket.getLocalPort();
        }
    }

    /** HAProxy's runtime API on its admin socket: one command per connection. */
    private record Stats(Path socket) {

        String command(String command) throws IOException {
            try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                channel.connect(UnixDomainSocketAddress.of(socket));
                channel.write(ByteBuffer.wrap((command + "\n").getBytes(StandardCharsets.US_ASCII)));
                return new String(Channels.newInputStream(channel).readAllBytes(), StandardCharsets.US_ASCII);
            }
        }

        /** The status column of a server of the backend: UP, DOWN, DRAIN, "UP 1/2", ... */
        String status(String server) throws IOException {
            return field(server, 17);
        }

        /** Sessions open to a server of the backend (scur). */
        long sessions(String server) throws IOException {
            return Long.parseLong(field(server, 4));
        }

        private String field(String server, int column) throws IOException {
            for (String line : command("show stat").split("\n")) {
                String[] fields = line.split(",", -1);
                if (fields.length > column && fields[0].equals(BACKEND) && fields[1].equals(server)) {
                    return fields[column];
                }
            }
            throw new IllegalStateException("no server " + server + " in HAProxy's stats");
        }
    }
}
