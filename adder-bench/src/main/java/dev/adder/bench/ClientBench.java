package dev.adder.bench;

import dev.adder.client.AdderClient;
import dev.adder.core.AdderAddress;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * {@code client --connect ADDR [--callers N] [--virtual] [--client-each] [--async D] [--batch N]
 * [--seconds S] [--warmup S]}: Adder's own client under concurrent callers, as application code
 * uses it. Callers share one client unless {@code --client-each}; {@code --virtual} makes them
 * virtual threads (Java 21+); {@code --async D} is one thread keeping D {@code addAsync} calls
 * in flight; {@code --batch N} is one thread calling {@code addAll} with N pairs. Every answer is
 * checked. Prints {@code ops=… ops_per_s=… p50_us=… p99_us=… errors=…}, latency per call from
 * the call to its answer.
 */
final class ClientBench {

    private AdderAddress address;
    private int callers = 1;
    private boolean virtual;
    private boolean clientEach;
    private int asyncDepth;
    private int batch;
    private double seconds = 5;
    private double warmup = 1;

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
            System.err.println("usage: client --connect ADDR [--callers N] [--virtual] [--client-each]"
                    + " [--async D] [--batch N] [--seconds S] [--warmup S]");
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
                        case "--callers" -> callers = Integer.parseInt(value);
                        case "--async" -> asyncDepth = Integer.parseInt(value);
                        case "--batch" -> batch = Integer.parseInt(value);
                        case "--seconds" -> seconds = Double.parseDouble(value);
                        case "--warmup" -> warmup = Double.parseDouble(value);
                        default -> throw new IllegalArgumentException("unknown option " + option);
                    }
                }
            }
        }
        if (address == null) {
            throw new IllegalArgumentException("--connect is required");
        }
    }

    private int run() throws Throwable {
        List<AdderClient> clients = new ArrayList<>();
        int clientCount = clientEach ? callers : 1;
        for (int c = 0; c < clientCount; c++) {
            clients.add(AdderClient.builder(address).maxInFlight(Math.max(AdderClient.DEFAULT_MAX_IN_FLIGHT,
                    asyncDepth)).connect());
        }
        ExecutorService pool = virtual ? virtualThreads() : Executors.newCachedThreadPool();
        List<java.util.concurrent.Future<?>> running = new ArrayList<>();
        if (asyncDepth > 0) {
            running.add(pool.submit(() -> asyncCaller(clients.get(0))));
        } else if (batch > 0) {
            running.add(pool.submit(() -> batchCaller(clients.get(0))));
        } else {
            for (int t = 0; t < callers; t++) {
                AdderClient client = clients.get(clientEach ? t : 0);
                int id = t;
                running.add(pool.submit(() -> blockingCaller(client, id)));
            }
        }
        TimeUnit.MILLISECONDS.sleep((long) (warmup * 1000));
        latency.getIntervalHistogram(); // the warm-up's latencies are dropped
        long opsBefore = ops.sum();
        long writesBefore = writeSyscalls();
        long start = System.nanoTime();
        TimeUnit.MILLISECONDS.sleep((long) (seconds * 1000));
        long measured = ops.sum() - opsBefore;
        long writes = writeSyscalls() - writesBefore;
        double elapsed = (System.nanoTime() - start) / 1e9;
        Histogram histogram = latency.getIntervalHistogram();
        stop = true;
        for (java.util.concurrent.Future<?> caller : running) {
            caller.get();
        }
        pool.shutdown();
        for (AdderClient client : clients) {
            client.close();
        }
        System.out.printf("ops=%d ops_per_s=%.0f p50_us=%.1f p99_us=%.1f writes_per_op=%.3f errors=%d%n", measured,
                measured / elapsed, histogram.getValueAtPercentile(50) / 1000.0,
                histogram.getValueAtPercentile(99) / 1000.0, writes < 0 ? -1.0 : writes / (double) measured, errors.sum());
        return errors.sum() == 0 ? 0 : 1;
    }

    private void blockingCaller(AdderClient client, int id) {
        long y = id * 1_000_000_000L;
        for (long i = 0; !stop; i++) {
            long begin = System.nanoTime();
            long sum = client.add(i, y);
            latency.recordValue(System.nanoTime() - begin);
            if (sum != i + y) {
                errors.increment();
            }
            ops.increment();
        }
    }

    private void asyncCaller(AdderClient client) {
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
