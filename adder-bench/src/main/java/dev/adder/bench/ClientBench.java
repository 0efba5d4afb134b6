package dev.adder.bench;

import dev.adder.client.AdderClient;
import dev.adder.core.AdderAddress;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * {@code client --connect ADDR [--peer adder|grpc] [--callers N] [--virtual] [--client-each] [--async D]
 * [--batch N] [--pattern P --rate R [--seed N]] [--server-pid PID] [--seconds S] [--warmup S]}: Adder's
 * own client under concurrent callers, as application code uses it. Callers share one client unless
 * {@code --client-each}; {@code --virtual} makes them virtual threads (Java 21+); {@code --async D} is
 * one thread keeping D {@code addAsync} calls in flight; {@code --batch N} is one thread calling
 * {@code addAll} with N pairs. Every answer is checked. Prints {@code ops=… ops_per_s=… p50_us=…
 * p99_us=… errors=…}, latency per call from the call to its answer. {@code --peer grpc} makes the
 * same calls with a gRPC client of the gRPC peer ({@link GrpcPeer}), a channel where Adder has a
 * client; it has no {@code --batch}.
 *
 * <p>{@code --pattern P --rate R}: one thread pacing its calls with {@code LockSupport.parkNanos}
 * at R calls/s on average, as application code does (parkNanos wakes late by tens of
 * microseconds), in pattern P: {@code even} (each call a period after the last one's due time, or
 * at once when that has passed, never catching up), {@code jittered} (gaps drawn from half to one
 * and a half periods), {@code bursts} (2 to 20 calls back to back, then a sleep, at the mean
 * rate), {@code catch-up} (a fixed schedule: a call that wakes late is followed by calls back to
 * back until it is kept again, so gaps alternate short and long), {@code beside} (a thread calling
 * back to back on a client of its own beside the paced one, even pacing; latency is the paced
 * one's). Random draws are seeded ({@code --seed}, printed). {@code --server-pid PID} adds the
 * server process's CPU over the measured window ({@code server_cpu_pct=}, percent of a core, from
 * /proc/PID/stat at {@code --clk-tck} ticks a second, 100 unless told).
 */
final class ClientBench {

    /** The calls measured, by Adder's client or the gRPC peer's. */
    interface Calls {
        long add(long x, long y);

        CompletableFuture<Long> addAsync(long x, long y);

        void close() throws Exception;
    }

    /** Adder's own client. */
    private static Calls adder(AdderClient client) {
        return new Calls() {
            @Override
            public long add(long x, long y) {
                return client.add(x, y);
            }

            @Override
            public CompletableFuture<Long> addAsync(long x, long y) {
                return client.addAsync(x, y);
            }

            @Override
            public void close() {
                client.close();
            }
        };
    }

    private AdderAddress address;
    private boolean grpc;
    private int callers = 1;
    private boolean virtual;
    private boolean clientEach;
    private int asyncDepth;
    private int batch;
    private double seconds = 5;
    private double warmup = 1;
    private String pattern;
    private double rate;
    private long seed = System.nanoTime();
    private long serverPid = -1;
    private int clkTck = 100;
    private final LongAdder pacedOps = new LongAdder();

    private final Recorder latency = new Recorder(TimeUnit.SECONDS.toNanos(60), 3);
    private final LongAdder ops = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private volatile boolean stop;

    static int main(String[] args) throws Exception {
        ClientBench bench = new ClientBench();
        try {
            bench.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("client: " + e.getMessage());
            System.err.println("usage: client --connect ADDR [--peer adder|grpc] [--callers N] [--virtual] [--client-each]"
                    + " [--async D] [--batch N] [--pattern even|jittered|bursts|catch-up|beside --rate R [--seed N]]"
                    + " [--server-pid PID [--clk-tck T]] [--seconds S] [--warmup S]");
            return 2;
        }
        try {
            return bench.run();
        } catch (Exception e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    private void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String option = args[i];
            switch (option) {
                case "--virtual" -> virtual = true;
                case "--client-each" -> clientEach = true;
                default -> {
                    if (i + 1 >= args.length) {
                        throw new IllegalArgumentException(option + " needs a value");
                    }
                    String value = args[++i];
                    switch (option) {
                        case "--connect" -> address = AdderAddress.parse(value);
                        case "--peer" -> grpc = switch (value) {
                            case "adder" -> false;
                            case "grpc" -> true;
                            default -> throw new IllegalArgumentException("--peer is adder or grpc, not " + value);
                        };
                        case "--callers" -> callers = Integer.parseInt(value);
                        case "--async" -> asyncDepth = Integer.parseInt(value);
                        case "--batch" -> batch = Integer.parseInt(value);
                        case "--seconds" -> seconds = Double.parseDouble(value);
                        case "--warmup" -> warmup = Double.parseDouble(value);
                        case "--pattern" -> pattern = value;
                        case "--rate" -> rate = Double.parseDouble(value);
                        case "--seed" -> seed = Long.parseLong(value);
                        case "--server-pid" -> serverPid = Long.parseLong(value);
                        case "--clk-tck" -> clkTck = Integer.parseInt(value);
                        default -> throw new IllegalArgumentException("unknown option " + option);
                    }
                }
            }
        }
        if (address == null) {
            throw new IllegalArgumentException("--connect is required");
        }
        if (pattern != null && (rate <= 0 || !List.of("even", "jittered", "bursts", "catch-up", "beside").contains(pattern))) {
            throw new IllegalArgumentException("--pattern is even, jittered, bursts, catch-up or beside, with --rate R > 0");
        }
        if (grpc && batch > 0) {
            throw new IllegalArgumentException("--batch is Adder's addAll: the gRPC peer has none");
        }
    }

    private int run() throws Throwable {
        List<Calls> clients = new ArrayList<>();
        AdderClient first = null;
        int clientCount = clientEach ? callers : "beside".equals(pattern) ? 2 : 1;
        for (int c = 0; c < clientCount; c++) {
            if (grpc) {
                clients.add(new GrpcPeer.Client(address));
            } else {
                AdderClient client = AdderClient.builder(address).maxInFlight(Math.max(AdderClient.DEFAULT_MAX_IN_FLIGHT,
                        asyncDepth)).connect();
                first = first == null ? client : first;
                clients.add(adder(client));
            }
        }
        ExecutorService pool = virtual ? virtualThreads() : Executors.newCachedThreadPool();
        List<java.util.concurrent.Future<?>> running = new ArrayList<>();
        if (pattern != null) {
            System.err.println("client: pattern " + pattern + " at " + rate + " calls/s, seed " + seed);
            running.add(pool.submit(() -> pacedCaller(clients.get(0))));
            if (pattern.equals("beside")) {
                running.add(pool.submit(() -> blockingCaller(clients.get(1), 1)));
            }
        } else if (asyncDepth > 0) {
            running.add(pool.submit(() -> asyncCaller(clients.get(0))));
        } else if (batch > 0) {
            AdderClient batchClient = first;
            running.add(pool.submit(() -> batchCaller(batchClient)));
        } else {
            for (int t = 0; t < callers; t++) {
                Calls client = clients.get(clientEach ? t : 0);
                int id = t;
                running.add(pool.submit(() -> blockingCaller(client, id)));
            }
        }
        TimeUnit.MILLISECONDS.sleep((long) (warmup * 1000));
        latency.getIntervalHistogram(); // the warm-up's latencies are dropped
        long opsBefore = ops.sum();
        long pacedBefore = pacedOps.sum();
        long writesBefore = writeSyscalls();
        long ticksBefore = cpuTicks(serverPid);
        long start = System.nanoTime();
        TimeUnit.MILLISECONDS.sleep((long) (seconds * 1000));
        long measured = ops.sum() - opsBefore;
        long paced = pacedOps.sum() - pacedBefore;
        long ticks = cpuTicks(serverPid) - ticksBefore;
        long writes = writeSyscalls() - writesBefore;
        double elapsed = (System.nanoTime() - start) / 1e9;
        Histogram histogram = latency.getIntervalHistogram();
        stop = true;
        for (java.util.concurrent.Future<?> caller : running) {
            caller.get();
        }
        pool.shutdown();
        for (Calls client : clients) {
            client.close();
        }
        System.out.printf("ops=%d ops_per_s=%.0f p50_us=%.1f p99_us=%.1f writes_per_op=%.3f errors=%d%s%s%n", measured,
                measured / elapsed, histogram.getValueAtPercentile(50) / 1000.0,
                histogram.getValueAtPercentile(99) / 1000.0, writes < 0 ? -1.0 : writes / (double) measured, errors.sum(),
                pattern == null ? "" : String.format(" paced_ops_per_s=%.0f", paced / elapsed),
                serverPid < 0 ? "" : String.format(" server_cpu_pct=%.1f", 100.0 * ticks / clkTck / elapsed));
        return errors.sum() == 0 ? 0 : 1;
    }

    private void blockingCaller(Calls client, int id) {
        long y = id * 1_000_000_000L;
        for (long i = 0; !stop; i++) {
            long begin = System.nanoTime();
            long sum = client.add(i, y);
            if (pattern == null) { // beside a paced caller, the latency recorded is the paced one's
                latency.recordValue(System.nanoTime() - begin);
            }
            if (sum != i + y) {
                errors.increment();
            }
            ops.increment();
        }
    }

    /** One thread pacing its calls with parkNanos in {@link #pattern} at {@link #rate} calls/s. */
    private void pacedCaller(Calls client) {
        SplittableRandom random = new SplittableRandom(seed);
        long period = (long) (1e9 / rate);
        long due = System.nanoTime();
        long burstDue = due;
        int burstLeft = 0;
        for (long i = 0; !stop; i++) {
            for (long wait = due - System.nanoTime(); wait > 0 && !stop; wait = due - System.nanoTime()) {
                LockSupport.parkNanos(wait);
            }
            long begin = System.nanoTime();
            long sum = client.add(i, 11);
            long end = System.nanoTime();
            latency.recordValue(end - begin);
            if (sum != i + 11) {
                errors.increment();
            }
            ops.increment();
            pacedOps.increment();
            switch (pattern) {
                case "catch-up" -> due += period;
                case "jittered" -> due = Math.max(due + period / 2 + random.nextLong(period), end);
                case "bursts" -> {
                    if (--burstLeft > 0) {
                        due = end;
                    } else {
                        burstLeft = 2 + random.nextInt(19);
                        burstDue = Math.max(burstDue + burstLeft * period, end);
                        due = burstDue;
                    }
                }
                default -> due = Math.max(due + period, end); // even, and the sparse one of beside
            }
        }
    }

    /** The CPU of process {@code pid} so far, in clock ticks (utime + stime of /proc/PID/stat), or 0 for none. */
    private static long cpuTicks(long pid) {
        if (pid < 0) {
            return 0;
        }
        try {
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/" + pid + "/stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(fields[11]) + Long.parseLong(fields[12]); // fields 14 and 15, counted from 1
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot read the server's CPU: " + e, e);
        }
    }

    private void asyncCaller(Calls client) {
        Semaphore inFlight = new Semaphore(asyncDepth);
        for (long i = 0; !stop; i++) {
            inFlight.acquireUninterruptibly();
            long begin = System.nanoTime();
            long x = i;
            CompletableFuture<Long> sum = client.addAsync(x, 7);
            sum.whenComplete((value, failure) -> {
                latency.recordValue(System.nanoTime() - begin);
                if (failure != null || value != x + 7) {
                    errors.increment();
                }
                ops.increment();
                inFlight.release();
            });
        }
        inFlight.acquireUninterruptibly(asyncDepth);
    }

    private void batchCaller(AdderClient client) {
        long[] xs = new long[batch];
        long[] ys = new long[batch];
        for (int i = 0; i < batch; i++) {
            xs[i] = i;
            ys[i] = -3L * i;
        }
        while (!stop) {
            long begin = System.nanoTime();
            long[] sums = client.addAll(xs, ys);
            latency.recordValue(System.nanoTime() - begin);
            for (int i = 0; i < batch; i++) {
                if (sums[i] != -2L * i) {
                    errors.increment();
                }
            }
            ops.add(batch);
        }
    }

    /** Write system calls of this process so far (Linux's /proc/self/io), or -1 where it cannot be read. */
    private static long writeSyscalls() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/io"))) {
                if (line.startsWith("syscw:")) {
                    return Long.parseLong(line.substring(6).trim());
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux, or not readable
        }
        return -1;
    }

    /** Virtual threads exist from Java 21; this module is built for 17. */
    private static ExecutorService virtualThreads() throws Throwable {
        return (ExecutorService) MethodHandles.publicLookup().findStatic(Executors.class,
                "newVirtualThreadPerTaskExecutor", MethodType.methodType(ExecutorService.class)).invoke();
    }
}
