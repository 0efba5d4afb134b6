package dev.adder.bench;

import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Whether new TLS connections handshaking beside established ones delay
 * them: checked clients over TLS, alone and then with a stream of new
 * connections (each a full handshake, one request, a close) beside them,
 * phase after phase; for each phase the clients' latency and, from the
 * server, its loop's longest turn and where its CPU went.
 *
 * <pre>
 * handshakes-beside --connect tls:HOST:PORT --tls-ca FILE [--clients N] [--client-rate R]
 *     [--handshake-rate H] [--phase-seconds S] [--rounds K] [--warmup S] [--metrics tcp:HOST:PORT]
 *     [--server-pid PID] [--tls-engine openssl|jdk]
 * </pre>
 *
 * <ul>
 *   <li>The clients: N (default 16) connections made before each phase, each one request at a
 *       time, every answer checked; R requests per second in all (default 16,000: 1,000 each),
 *       paced, latency from each request's due time; {@code --client-rate 0}: as fast as answered
 *       (a saturated server, where the handshakes' CPU shows as latency whether the loop stalls
 *       or not).
 *   <li>The handshakes: H new connections per second (default 200), each due at its time.
 *   <li>After a warm-up of both together (default 20 s), K rounds (default 2) of a phase
 *       {@code quiet} (the clients alone) and a phase {@code handshakes} (both), S seconds
 *       each (default 30).
 * </ul>
 *
 * <p>With {@code --metrics}, Adder's daemon's Prometheus endpoint is read
 * every half second for {@code adder_loop_longest_turn_seconds}: the longest
 * turn of the loop over the last 10 to 20 seconds. A phase's
 * {@code longest_turn_ms} is the largest reading taken from 21 s into the
 * clients' window (which begins after their connections' handshakes and a
 * 2 s warm-up) to its end, so that it covers that phase's turns alone (phases
 * of 25 s or more; shorter ones print {@code -}). With {@code --server-pid}, the
 * CPU of the server's threads over the phase's window: its loop threads
 * ({@code adder-loop*}), its TLS task threads ({@code adder-tls-*}, where
 * Adder's handshakes do their costly steps), all of it. The handshakes run
 * in this process, beside the clients: {@code send_late_p99_us} is how late
 * the clients' own thread sent requests, so a load kept off its core is not
 * taken for the server's latency.
 */
final class HandshakesBeside {

    private AdderAddress address;
    private Path tlsCa;
    private int clients = 16;
    private double clientRate = 16_000;
    private double handshakeRate = 200;
    private double phaseSeconds = 30;
    private int rounds = 2;
    private double warmup = 20;
    private AdderAddress metrics;
    private long serverPid;
    private String tlsEngine = "openssl";

    private HandshakesBeside() {
    }

    static int main(String[] args) throws Exception {
        HandshakesBeside harness = new HandshakesBeside();
        try {
            harness.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("handshakes-beside: " + e.getMessage());
            System.err.println("usage: handshakes-beside --connect tls:HOST:PORT --tls-ca FILE [--clients N]"
                    + " [--client-rate R] [--handshake-rate H] [--phase-seconds S] [--rounds K] [--warmup S]"
                    + " [--metrics tcp:HOST:PORT] [--server-pid PID] [--tls-engine openssl|jdk]");
            return 2;
        }
        return harness.run();
    }

    private void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String option = args[i];
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(option + " needs a value");
            }
            String value = args[++i];
            switch (option) {
                case "--connect" -> address = AdderAddress.parse(value);
                case "--tls-ca" -> tlsCa = Path.of(value);
                case "--clients" -> clients = Integer.parseInt(value);
                case "--client-rate" -> clientRate = Double.parseDouble(value);
                case "--handshake-rate" -> handshakeRate = Double.parseDouble(value);
                case "--phase-seconds" -> phaseSeconds = Double.parseDouble(value);
                case "--rounds" -> rounds = Integer.parseInt(value);
                case "--warmup" -> warmup = Double.parseDouble(value);
                case "--metrics" -> metrics = AdderAddress.parse(value);
                case "--server-pid" -> serverPid = Long.parseLong(value);
                case "--tls-engine" -> tlsEngine = value;
                default -> throw new IllegalArgumentException("unknown option " + option);
            }
        }
        if (address == null || !address.isTls() || tlsCa == null) {
            throw new IllegalArgumentException("--connect tls:HOST:PORT and --tls-ca FILE are required");
        }
        if (clients < 1 || rounds < 1 || !(handshakeRate > 0) || !(phaseSeconds > 0) || clientRate < 0) {
            throw new IllegalArgumentException("--clients, --rounds, --handshake-rate and --phase-seconds must be"
                    + " more than 0, --client-rate 0 or more");
        }
        if (metrics != null && (metrics.isUnix() || metrics.isTls())) {
            throw new IllegalArgumentException("--metrics is the daemon's tcp:HOST:PORT");
        }
    }

    /** What one phase measured. */
    private record Phase(String name, int round, Load.Result clients, HandshakeLoad.Result handshakes,
            double longestTurnMillis, ThreadCpu cpu) {

        String line() {
            Load.Result c = clients;
            StringBuilder line = new StringBuilder(String.format(
                    "round=%d phase=%s ops_per_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%d",
                    round, name, c.ops() / c.window(), c.latency().getValueAtPercentile(50) / 1e3,
                    c.latency().getValueAtPercentile(99) / 1e3, c.latency().getValueAtPercentile(99.9) / 1e3,
                    c.latency().getMaxValue() / 1e3, c.errors()));
            if (c.sendLate() != null) {
                line.append(String.format(" send_late_p99_us=%.1f", c.sendLate().getValueAtPercentile(99) / 1e3));
            }
            line.append(Double.isNaN(longestTurnMillis) ? " longest_turn_ms=-"
                    : String.format(" longest_turn_ms=%.2f", longestTurnMillis));
            if (cpu != null) {
                line.append(cpu.describe());
            }
            if (handshakes != null) {
                HandshakeLoad.Result h = handshakes;
                line.append(String.format(" handshakes_per_s=%.0f handshake_p99_ms=%.1f handshake_late=%d"
                                + " handshake_errors=%d", h.ops / h.window, h.latency.getValueAtPercentile(99) / 1e6,
                        h.late, h.errors));
            }
            return line.toString();
        }
    }

    private int run() throws Exception {
        if (metrics != null && phaseSeconds < 25) {
            System.err.println("handshakes-beside: phases under 25 s are too short to tell their loop's longest turn"
                    + " from the one before: longest_turn_ms is left out");
        }
        System.out.printf("handshakes-beside: %d clients at %s, %.0f new TLS connections/s beside them in the"
                        + " handshakes phases; %.0f s phases, %d rounds, %.0f s warm-up%n", clients,
                clientRate > 0 ? String.format("%.0f requests/s in all", clientRate) : "full speed", handshakeRate,
                phaseSeconds, rounds, warmup);
        List<Phase> phases = new ArrayList<>();
        ExecutorService pool = Executors.newCachedThreadPool(task -> {
            Thread thread = new Thread(task, "handshakes-beside");
            thread.setDaemon(true);
            return thread;
        });
        HttpClient http = metrics == null ? null : HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        try {
            if (warmup > 0) {
                Phase warm = phase(pool, http, "warmup", 0, true, warmup);
                System.out.println(warm.line());
            }
            for (int round = 1; round <= rounds; round++) {
                for (boolean withHandshakes : new boolean[] {false, true}) {
                    Phase phase = phase(pool, http, withHandshakes ? "handshakes" : "quiet", round, withHandshakes,
                            phaseSeconds);
                    System.out.println(phase.line());
                    phases.add(phase);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        long errors = 0;
        System.out.println("summary (median over the rounds):");
        for (String name : List.of("quiet", "handshakes")) {
            List<Phase> of = phases.stream().filter(p -> p.name.equals(name)).toList();
            System.out.printf("  %-10s p99_us=%.1f p999_us=%.1f max_us=%.1f longest_turn_ms=%s%n", name,
                    median(of.stream().map(p -> p.clients.latency().getValueAtPercentile(99) / 1e3).toList()),
                    median(of.stream().map(p -> p.clients.latency().getValueAtPercentile(99.9) / 1e3).toList()),
                    median(of.stream().map(p -> p.clients.latency().getMaxValue() / 1e3).toList()),
                    of.stream().anyMatch(p -> Double.isNaN(p.longestTurnMillis)) ? "-"
                            : String.format("%.2f", median(of.stream().map(p -> p.longestTurnMillis).toList())));
            for (Phase p : of) {
                errors += p.clients.errors() + (p.handshakes == null ? 0 : p.handshakes.errors);
            }
        }
        if (errors > 0) {
            System.err.println("handshakes-beside: " + errors + " errors (wrong answers, closed or failed connections)");
            return 1;
        }
        return 0;
    }

    private Phase phase(ExecutorService pool, HttpClient http, String name, int round, boolean withHandshakes,
            double seconds) throws Exception {
        double clientWarmup = 2;
        List<String> clientArgs = new ArrayList<>(List.of("--connect", address.toString(), "--tls-ca", tlsCa.toString(),
                "--tls-engine", tlsEngine, "--conns", Integer.toString(clients), "--depth", "1",
                "--seconds", Double.toString(seconds), "--warmup", Double.toString(clientWarmup)));
        if (clientRate > 0) {
            clientArgs.addAll(List.of("--rate", Double.toString(clientRate)));
        }
        AtomicBoolean stop = new AtomicBoolean();
        Future<Load.Result> clientRun = pool.submit(() -> Load.measure(clientArgs.toArray(String[]::new)));
        Future<HandshakeLoad.Result> handshakeRun = null;
        if (withHandshakes) {
            String[] handshakeArgs = {"--connect", address.toString(), "--tls-ca", tlsCa.toString(), "--tls-engine",
                tlsEngine, "--rate", Double.toString(handshakeRate), "--warmup", "0",
                "--seconds", Double.toString(seconds + clientWarmup + 60)};
            handshakeRun = pool.submit(() -> HandshakeLoad.measure(handshakeArgs, stop));
        }
        // readings every half second, kept with their times: which of them belong to the phase is known once
        // the clients say when their window began (after their connections' handshakes and a warm-up)
        List<long[]> turns = new ArrayList<>();
        List<ThreadCpu> cpus = new ArrayList<>();
        while (!clientRun.isDone()) {
            if (serverPid > 0) {
                cpus.add(ThreadCpu.read(serverPid));
            }
            if (http != null) {
                double reading = longestTurnMillis(http);
                if (!Double.isNaN(reading)) {
                    turns.add(new long[] {System.nanoTime(), Math.round(reading * 1e6)});
                }
            }
            TimeUnit.MILLISECONDS.sleep(500);
        }
        Load.Result clientsResult = clientRun.get();
        stop.set(true);
        HandshakeLoad.Result handshakes = handshakeRun == null ? null : handshakeRun.get();
        long from = clientsResult.windowStart();
        long to = from + (long) (clientsResult.window() * 1e9);
        // a reading covers the last 10 to 20 s: from 20 s into the window, none reaches back before it
        double longest = Double.NaN;
        if (seconds >= 25) {
            for (long[] turn : turns) {
                if (turn[0] - (from + TimeUnit.SECONDS.toNanos(20)) >= 0 && turn[0] - to <= 0) {
                    longest = Math.max(Double.isNaN(longest) ? 0 : longest, turn[1] / 1e6);
                }
            }
        }
        ThreadCpu first = null;
        ThreadCpu last = null;
        for (ThreadCpu reading : cpus) {
            if (first == null && reading.at() - from >= 0) {
                first = reading;
            }
            if (reading.at() - to <= 0) {
                last = reading;
            }
        }
        ThreadCpu cpu = first != null && last != null && last.at() - first.at() > 0 ? last.since(first) : null;
        return new Phase(name, round, clientsResult, handshakes, longest, cpu);
    }

    /** The daemon's {@code adder_loop_longest_turn_seconds}, in ms; NaN if it cannot be read. */
    private double longestTurnMillis(HttpClient http) {
        try {
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(
                    URI.create("http://" + metrics.host() + ":" + metrics.port() + "/metrics"))
                    .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
            for (String line : response.body().split("\n")) {
                if (line.startsWith("adder_loop_longest_turn_seconds ")) {
                    return 1e3 * Double.parseDouble(line.substring(line.indexOf(' ') + 1).trim());
                }
            }
        } catch (IOException | RuntimeException e) {
            System.err.println("handshakes-beside: cannot read " + metrics + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return Double.NaN;
    }

    private static double median(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        return sorted.isEmpty() ? Double.NaN : sorted.get(sorted.size() / 2);
    }

    /** CPU ticks of a process: its loops' threads, its TLS tasks' threads, the whole process; and when read. */
    private record ThreadCpu(long loop, long tls, long all, long at) {

        static ThreadCpu read(long pid) throws IOException {
            long loop = 0;
            long tls = 0;
            // the process's own counts include its threads that have ended (an idle TLS thread ends
            // after 30 s): a sum over the living threads would shrink when one does
            String process = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] own = process.substring(process.lastIndexOf(')') + 2).split(" ");
            long all = Long.parseLong(own[11]) + Long.parseLong(own[12]);
            try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
                for (Path task : tasks.toList()) {
                    String comm;
                    String stat;
                    try {
                        comm = Files.readString(task.resolve("comm")).trim();
                        stat = Files.readString(task.resolve("stat"));
                    } catch (IOException gone) {
                        continue; // the thread ended meanwhile
                    }
                    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    long ticks = Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
                    if (comm.startsWith("adder-loop")) {
                        loop += ticks;
                    } else if (comm.startsWith("adder-tls")) {
                        tls += ticks;
                    }
                }
            }
            return new ThreadCpu(loop, tls, all, System.nanoTime());
        }

        /** The ticks since an earlier reading, {@code at} then the time between. A TLS thread that ended between loses its ticks from {@code tls} (not from {@code all}). */
        ThreadCpu since(ThreadCpu earlier) {
            return new ThreadCpu(loop - earlier.loop, Math.max(0, tls - earlier.tls), all - earlier.all,
                    at - earlier.at);
        }

        /** Of a {@link #since} difference. */
        String describe() {
            double seconds = at / 1e9;
            double tick = Load.CLOCK_TICKS_PER_SECOND;
            return String.format(" server_cpu_pct=%.1f loop_cpu_pct=%.1f tls_threads_cpu_pct=%.1f",
                    100 * all / tick / seconds, 100 * loop / tick / seconds, 100 * tls / tick / seconds);
        }
    }
}
