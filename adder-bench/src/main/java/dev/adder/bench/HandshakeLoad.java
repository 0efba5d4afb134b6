package dev.adder.bench;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/**
 * New TLS connections, one after another: each connects, makes a full
 * handshake, asks one request, checks its answer, and closes (close_notify,
 * then the socket). As fast as the server takes them, or at a given rate.
 *
 * <pre>
 * load --handshakes --connect tls:HOST:PORT --tls-ca FILE [--rate R] [--threads T] [--seconds S] [--warmup S]
 *      [--server-pid PID] [--tls-engine openssl|jdk] [--tls-ciphers LIST] [--tls-resume]
 * </pre>
 *
 * <p>Without {@code --rate}, T threads (default 4) each make one connection
 * at a time, back to back: T handshakes in flight. With {@code --rate R}, the
 * k-th connection is due at start + k/R seconds, and whichever of the T
 * threads (default 16) is free takes it at that time; one that finds it past
 * due (every thread was busy) begins at once and counts it {@code late}.
 * Paced, a connection's time runs from when it was due, so a server that is
 * slow to accept is charged for the wait.
 *
 * <p>Prints one line in the load generator's form, where an operation is a
 * whole connection (connect, handshake, one answer):
 * {@code ops=... ops_per_s=... p50_us=... p99_us=... p999_us=... errors=... total=...
 * handshakes_per_s=... late=...}, then the server's CPU (with
 * {@code --server-pid}: {@code server_cpu_us_per_req} is per connection) and
 * the load's own. Each connection makes a full handshake unless
 * {@code --tls-resume}. The client's engine is BoringSSL's unless
 * {@code --tls-engine jdk} (see {@link TlsConnection}). Exits 1 on any error
 * in the measured window.
 */
final class HandshakeLoad {

    private AdderAddress address;
    private Path tlsCa;
    private String tlsCiphers;
    private String tlsEngine = "openssl";
    private boolean resume;
    private double rate;
    private int threads;
    private double seconds = 5;
    private double warmup = 1;
    private long serverPid;

    private HandshakeLoad() {
    }

    static int main(String[] args) throws Exception {
        HandshakeLoad load = new HandshakeLoad();
        try {
            load.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("load --handshakes: " + e.getMessage());
            System.err.println("usage: load --handshakes --connect tls:HOST:PORT --tls-ca FILE [--rate R] [--threads T]"
                    + " [--seconds S] [--warmup S] [--server-pid PID] [--tls-engine openssl|jdk] [--tls-ciphers LIST]"
                    + " [--tls-resume]");
            return 2;
        }
        Result result = load.run(new AtomicBoolean());
        System.out.println(result.line());
        if (result.errors > 0) {
            System.err.println("load --handshakes: " + result.errors + " errors; the first: " + result.firstError);
            return 1;
        }
        return 0;
    }

    /**
     * A run's figures without printing them, for a tool that makes handshakes beside something else.
     *
     * @param args as {@code main}'s
     * @param stop when set, the run ends early (its window ends there)
     */
    static Result measure(String[] args, AtomicBoolean stop) throws Exception {
        HandshakeLoad load = new HandshakeLoad();
        load.parse(args);
        return load.run(stop);
    }

    private void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String option = args[i];
            if (option.equals("--handshakes")) {
                continue;
            }
            if (option.equals("--tls-resume")) {
                resume = true;
                continue;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(option + " needs a value");
            }
            String value = args[++i];
            switch (option) {
                case "--connect" -> address = AdderAddress.parse(value);
                case "--tls-ca" -> tlsCa = Path.of(value);
                case "--tls-ciphers" -> tlsCiphers = value;
                case "--tls-engine" -> tlsEngine = value;
                case "--rate" -> {
                    rate = Double.parseDouble(value);
                    if (!(rate > 0)) {
                        throw new IllegalArgumentException("--rate must be more than 0");
                    }
                }
                case "--threads" -> threads = Integer.parseInt(value);
                case "--seconds" -> seconds = Double.parseDouble(value);
                case "--warmup" -> warmup = Double.parseDouble(value);
                case "--server-pid" -> serverPid = Long.parseLong(value);
                default -> throw new IllegalArgumentException("unknown option " + option);
            }
        }
        if (address == null || !address.isTls()) {
            throw new IllegalArgumentException("--connect tls:HOST:PORT is required");
        }
        if (tlsCa == null) {
            throw new IllegalArgumentException("--tls-ca FILE (the CAs to trust) is required");
        }
        if (tlsCiphers != null && tlsEngine.equals("openssl")) {
            throw new IllegalArgumentException("BoringSSL's TLS 1.3 cipher suites cannot be chosen: --tls-ciphers needs"
                    + " --tls-engine jdk");
        }
        if (threads == 0) {
            threads = rate > 0 ? 16 : 4;
        }
        if (threads < 1) {
            throw new IllegalArgumentException("--threads must be at least 1");
        }
    }

    /** What a run measured; an operation is one connection. */
    static final class Result {
        long ops;
        double window;
        final Histogram latency = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        long errors;
        long total;
        long late;
        String firstError;
        double serverCpuSeconds = -1;
        double loadCpuSeconds = -1;
        String tls;

        String line() {
            String serverCpu = serverCpuSeconds < 0 ? "" : String.format(" server_cpu_pct=%.1f server_cpu_us_per_req=%.2f",
                    100 * serverCpuSeconds / window, ops == 0 ? 0 : serverCpuSeconds * 1e6 / ops);
            String loadCpu = loadCpuSeconds < 0 ? "" : String.format(" load_cpu_pct=%.1f load_cpu_us_per_req=%.2f",
                    100 * loadCpuSeconds / window, ops == 0 ? 0 : loadCpuSeconds * 1e6 / ops);
            return String.format("ops=%d ops_per_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f errors=%d total=%d"
                            + " handshakes_per_s=%.0f late=%d%s%s%s", ops, ops / window,
                    latency.getValueAtPercentile(50) / 1e3, latency.getValueAtPercentile(99) / 1e3,
                    latency.getValueAtPercentile(99.9) / 1e3, errors, total, ops / window, late, serverCpu, loadCpu,
                    tls == null ? "" : " tls=" + tls);
        }
    }

    /** One thread's connections and figures. */
    private final class Handshaker implements Runnable {
        final TlsConnection.Scratch scratch = new TlsConnection.Scratch();
        final Histogram latency = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        final ByteBuffer request = ByteBuffer.allocate(Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
        final ByteBuffer answer = ByteBuffer.allocate(64 * 1024).order(Protocol.BYTE_ORDER);
        final TlsConnection.Client client;
        final AtomicLong next;
        final AtomicBoolean stop;
        final long seed;
        long start;
        long warmupEnd;
        long end;
        long ops;
        long total;
        long errors;
        long late;
        String firstError;
        String tls;

        Handshaker(TlsConnection.Client client, AtomicLong next, AtomicBoolean stop, long seed) {
            this.client = client;
            this.next = next;
            this.stop = stop;
            this.seed = seed;
        }

        @Override
        public void run() {
            long x = seed;
            while (!stop.get()) {
                long began;
                if (rate > 0) {
                    long due = start + Math.round(next.getAndIncrement() * 1e9 / rate);
                    if (due - end >= 0) {
                        return;
                    }
                    waitUntil(due);
                    if (System.nanoTime() - due > TimeUnit.MILLISECONDS.toNanos(1) && due - warmupEnd >= 0) {
                        late++;
                    }
                    began = due;
                } else {
                    began = System.nanoTime();
                    if (began - end >= 0) {
                        return;
                    }
                }
                x += 1_000_003L;
                boolean measured = began - warmupEnd >= 0;
                try {
                    once(x);
                    total++;
                    if (measured) {
                        ops++;
                        latency.recordValue(Math.min(System.nanoTime() - began, latency.getHighestTrackableValue()));
                    }
                } catch (IOException | RuntimeException e) {
                    if (measured && errors++ == 0) {
                        firstError = e.toString();
                    }
                }
            }
        }

        /** Connect, handshake, one request and its answer, close. */
        private void once(long x) throws IOException {
            TlsConnection connection = client.connect(address, scratch);
            try {
                if (tls == null) {
                    tls = connection.describe();
                }
                request.clear();
                Protocol.encodeRequest(request, x, 7);
                request.flip();
                connection.write(request);
                if (request.hasRemaining() || connection.holdsOutput()) {
                    throw new IOException("a blocking socket took 16 bytes in part");
                }
                answer.clear();
                while (answer.position() < Protocol.RESPONSE_BYTES) {
                    if (connection.read(answer) < 0) {
                        throw new IOException("the server closed before the answer");
                    }
                }
                answer.flip();
                long sum = Protocol.decodeResponse(answer);
                if (sum != x + 7) {
                    throw new IOException("wrong answer: " + x + " + 7 gave " + sum);
                }
            } finally {
                connection.close();
            }
        }
    }

    private static void waitUntil(long due) {
        long left;
        while ((left = due - System.nanoTime()) > 0) {
            LockSupport.parkNanos(left);
        }
    }

    private Result run(AtomicBoolean stop) throws Exception {
        TlsConnection.Client client = TlsConnection.Client.trusting(tlsCa, tlsEngine, tlsCiphers, resume);
        AtomicLong next = new AtomicLong();
        long start = System.nanoTime();
        long warmupEnd = start + (long) (warmup * 1e9);
        long end = warmupEnd + (long) (seconds * 1e9);
        List<Handshaker> handshakers = new ArrayList<>();
        List<Thread> running = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Handshaker handshaker = new Handshaker(client, next, stop, t);
            handshaker.start = start;
            handshaker.warmupEnd = warmupEnd;
            handshaker.end = end;
            handshakers.add(handshaker);
            Thread thread = new Thread(handshaker, "handshakes-" + t);
            thread.setDaemon(true);
            running.add(thread);
            thread.start();
        }
        long self = ProcessHandle.current().pid();
        sleepUntil(warmupEnd, stop);
        long serverBefore = serverPid > 0 ? Load.cpuTicks(serverPid) : 0;
        long loadBefore = Load.cpuTicks(self);
        long measuredStart = System.nanoTime();
        sleepUntil(end, stop);
        long measuredEnd = System.nanoTime();
        Result result = new Result();
        if (serverPid > 0) {
            result.serverCpuSeconds = (Load.cpuTicks(serverPid) - serverBefore) / (double) Load.CLOCK_TICKS_PER_SECOND;
        }
        result.loadCpuSeconds = (Load.cpuTicks(self) - loadBefore) / (double) Load.CLOCK_TICKS_PER_SECOND;
        for (Thread thread : running) {
            thread.join(TimeUnit.SECONDS.toMillis(30));
            if (thread.isAlive()) {
                result.errors++;
                result.firstError = "a connection was still open 30 s after the end";
            }
        }
        result.window = Math.max(1e-9, (measuredEnd - measuredStart) / 1e9);
        for (Handshaker handshaker : handshakers) {
            result.latency.add(handshaker.latency);
            result.ops += handshaker.ops;
            result.total += handshaker.total;
            result.errors += handshaker.errors;
            result.late += handshaker.late;
            if (result.firstError == null) {
                result.firstError = handshaker.firstError;
            }
            if (result.tls == null) {
                result.tls = handshaker.tls;
            }
        }
        return result;
    }

    private static void sleepUntil(long deadline, AtomicBoolean stop) throws InterruptedException {
        long left;
        while ((left = deadline - System.nanoTime()) > 0 && !stop.get()) {
            TimeUnit.NANOSECONDS.sleep(Math.min(left, TimeUnit.MILLISECONDS.toNanos(50)));
        }
    }
}
