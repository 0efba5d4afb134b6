package dev.adder.client;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.Transport;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client under everything at once, at random: platform threads, virtual
 * threads (on Java 21 and later), {@code addAsync} and {@code addAll} share one
 * client with a random call timeout, in-flight cap, replay setting and
 * completion executor, against a server that at random delays its answers,
 * stops reading, splits its writes, resets connections (mid-answer too) and
 * restarts; each round ends with {@code close()} while calls are under way.
 * Both socket kinds, a fresh client and server each round.
 *
 * <p>What the README promises, checked for every call: it ends exactly once,
 * with its own right answer or with an {@link AdderException} ("Every failure
 * is an unchecked {@code AdderException}"), within its deadline plus 100 ms
 * ("Every call's deadline starts when it is called, and every wait ... ends
 * there"; for a batch, DESIGN.md's "Every wait, connects and back-offs
 * included, ends at the caller's own deadline, which starts when it calls",
 * where the README's {@code addAll} has the call timeout bound each wait for
 * progress instead);
 * and no thread of the client is left a second after {@code close()} has
 * returned (each round's callers have ended by then). A
 * call that races {@code close()} (made less than 200 ms before it began, or
 * after) may instead find the client closed, with an
 * {@link IllegalStateException}. What is no fault of the client's is not
 * counted against it: the JVM's first loading and compiling of the code (each
 * kind of call is made first against a server that makes no trouble, unchecked
 * for time), and the moments the whole JVM stood still (a garbage collector's
 * pause, cores given to another process: a thread that wakes every
 * millisecond sees them), which are taken off a late call's lateness.
 *
 * <p>It runs for about 30 s ({@code -Dadder.test.chaosSeconds=300} for
 * longer), prints its seed, and names it on failure; {@code
 * -Dadder.test.chaosSeed=N} runs the same random choices again (the threads'
 * interleaving is the machine's).
 */
class ClientChaosTest {

    private static final long SLACK_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** A call made this long before close() began, or after, may find the client closed. */
    private static final long RACING_CLOSE_NANOS = TimeUnit.MILLISECONDS.toNanos(200);
    private static final int MAX_VIOLATIONS_TOLD = 20;
    /** A stall this long before a call's deadline may still have made it late. */
    private static final long STALL_MARGIN_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    @TempDir
    Path dir;

    @Test
    void everyCallEndsOnceRightOrWithAnAdderExceptionWithinItsDeadline() throws Throwable {
        long seconds = Long.getLong("adder.test.chaosSeconds", 30);
        long seed = Long.getLong("adder.test.chaosSeed", new SplittableRandom().nextLong());
        boolean virtual = Runtime.version().feature() >= 21;
        System.out.println("ClientChaosTest: seed " + seed + " (again: -Dadder.test.chaosSeed=" + seed + "), " + seconds
                + " s" + (virtual ? "" : "; virtual threads need Java 21 or later, so this run has none: platform"
                + " threads, addAsync and addAll only"));
        try {
            assertTimeoutPreemptively(Duration.ofSeconds(seconds + 120), () -> run(seed, seconds, virtual),
                    "seed " + seed + ": the test did not end");
        } catch (Throwable e) {
            if (e.getMessage() != null && e.getMessage().startsWith("seed ")) {
                throw e;
            }
            throw new AssertionError("seed " + seed + ": " + e, e);
        }
    }

    private void run(long seed, long seconds, boolean virtual) throws Throwable {
        try (Stalls stalls = new Stalls()) {
            run(seed, seconds, virtual, stalls);
        }
    }

    private void run(long seed, long seconds, boolean virtual, Stalls stalls) throws Throwable {
        warmUp(dir.resolve("warm-up"), virtual);
        SplittableRandom random = new SplittableRandom(seed);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        Totals totals = new Totals();
        int rounds = 0;
        while (rounds == 0 || System.nanoTime() - end < 0) {
            Round round = new Round(random.split(), virtual, dir.resolve("round-" + rounds), stalls);
            round.run();
            totals.add(round);
            if (!round.violations.isEmpty()) {
                List<String> told = round.violations.subList(0, Math.min(MAX_VIOLATIONS_TOLD, round.violations.size()));
                throw new AssertionError("seed " + seed + ", round " + rounds + " (" + round.settings + "; " + round.summary()
                        + "): " + round.violations.size() + " violations" + (round.violations.size() > told.size()
                        ? ", the first " + told.size() : "") + ":\n  " + String.join("\n  ", told));
            }
            rounds++;
        }
        System.out.println("ClientChaosTest: seed " + seed + ", " + rounds + " rounds: " + totals + "; " + stalls);
        assertTrue(totals.right > 0, "seed " + seed + ": no call was answered at all");
    }

    /**
     * Each kind of call, one kind at a time, against a server that makes no
     * trouble, so that loading and compiling the code of the client and of
     * this test is not what makes the first round's calls late.
     */
    private static void warmUp(Path dir, boolean virtual) throws Throwable {
        Files.createDirectories(dir);
        try (ChaosServer server = new ChaosServer(Transport.UNIX.listenAddress(dir), null);
             AdderClient client = AdderClient.builder(server.address()).connect()) {
            for (int i = 0; i < 2_000; i++) {
                assertEquals(i + 1, client.add(i, 1));
            }
            List<CompletableFuture<Long>> sums = new ArrayList<>();
            for (int i = 0; i < 2_000; i++) {
                sums.add(client.addAsync(i, 2));
            }
            for (int i = 0; i < 2_000; i++) {
                assertEquals(i + 2, sums.get(i).get(30, TimeUnit.SECONDS));
            }
            for (int i = 0; i < 200; i++) {
                assertEquals(i + 3, client.addAll(new long[] {i, i}, new long[] {3, 3})[1]);
            }
            if (virtual) {
                ExecutorService threads = virtualThreads();
                Future<?> calls = threads.submit(() -> {
                    for (int i = 0; i < 2_000; i++) {
                        assertEquals(i + 4, client.add(i, 4));
                    }
                });
                calls.get(60, TimeUnit.SECONDS);
                threads.shutdown();
            }
        }
    }

    /**
     * When this JVM stood still: a thread that wakes every millisecond notes
     * each wake-up more than 5 ms late (a garbage collector's pause, a machine
     * whose cores were given to someone else). Such a stall delays every
     * thread alike, so it is no fault of the client's: the time a call's end
     * overlaps with stalls is not counted against it.
     */
    private static final class Stalls implements AutoCloseable {
        private static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
        private static final long NOTED_NANOS = TimeUnit.MILLISECONDS.toNanos(5);
        private final List<long[]> stalls = Collections.synchronizedList(new ArrayList<>());
        private final Thread ticker;
        private volatile boolean stopped;

        Stalls() {
            ticker = new Thread(() -> {
                long last = System.nanoTime();
                while (!stopped) {
                    LockSupport.parkNanos(TICK_NANOS);
                    long now = System.nanoTime();
                    if (now - last - TICK_NANOS > NOTED_NANOS) {
                        stalls.add(new long[] {last + TICK_NANOS, now});
                    }
                    last = now;
                }
            }, "chaos-stalls");
            ticker.setDaemon(true);
            ticker.start();
        }

        /** How long the JVM stood still between {@code from} and {@code to}. */
        long within(long from, long to) {
            long total = 0;
            synchronized (stalls) {
                for (long[] stall : stalls) {
                    total += Math.max(0, Math.min(to, stall[1]) - Math.max(from, stall[0]));
                }
            }
            return total;
        }

        @Override
        public String toString() {
            long longest = 0;
            synchronized (stalls) {
                for (long[] stall : stalls) {
                    longest = Math.max(longest, stall[1] - stall[0]);
                }
                return "the JVM stood still " + stalls.size() + " times for more than 5 ms, at most " + millis(longest)
                        + " ms";
            }
        }

        @Override
        public void close() {
            stopped = true;
        }
    }

    /** The counts of every round, for the closing line. */
    private static final class Totals {
        long right;
        long failed;
        long racedClose;
        long restarts;
        long resets;
        long pauses;

        void add(Round round) {
            right += round.right.get();
            failed += round.failed.get();
            racedClose += round.racedClose.get();
            restarts += round.server.restarts.get();
            resets += round.server.resets.get();
            pauses += round.server.pauses.get();
        }

        @Override
        public String toString() {
            return right + " calls answered right, " + failed + " failed with an AdderException, " + racedClose
                    + " found the client closed; the server restarted " + restarts + " times, reset " + resets
                    + " connections and paused " + pauses + " times";
        }
    }

    /** Virtual threads exist from Java 21; the library is built for 17, so they are reached by reflection. */
    private static ExecutorService virtualThreads() throws Throwable {
        return (ExecutorService) MethodHandles.publicLookup().findStatic(Executors.class,
                "newVirtualThreadPerTaskExecutor", MethodType.methodType(ExecutorService.class)).invoke();
    }

    /** A number from {@code low} to {@code high}, evenly spread on a log scale. */
    private static long logUniform(SplittableRandom random, long low, long high) {
        return Math.round(Math.exp(Math.log(low) + random.nextDouble() * (Math.log(high) - Math.log(low))));
    }

    private static long millis(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }

    /** One client, its callers and a server of its own, from connect to close. */
    private static final class Round {
        final SplittableRandom random;
        final ChaosServer server;
        final Transport transport;
        final long timeoutNanos;
        final String settings;
        final List<String> violations = Collections.synchronizedList(new ArrayList<>());
        final AtomicLong right = new AtomicLong();
        final AtomicLong failed = new AtomicLong();
        final AtomicLong racedClose = new AtomicLong();
        final AtomicLong ended = new AtomicLong();
        final Set<CompletableFuture<Long>> outstanding = ConcurrentHashMap.newKeySet();
        private final AdderClient.Builder builder;
        private final int platformCallers;
        private final int virtualCallers;
        private final int asyncInFlight;
        private final int largestBatch;
        private final long closeAfterCalls;
        private final long longestRoundNanos;
        private final ExecutorService completionPool;
        private volatile boolean closing;
        private volatile long closeBegan;
        private final Stalls stalls;
        private AdderClient client;

        Round(SplittableRandom random, boolean virtual, Path dir, Stalls stalls) throws IOException {
            this.random = random;
            this.stalls = stalls;
            Files.createDirectories(dir);
            transport = random.nextBoolean() ? Transport.UNIX : Transport.TCP;
            server = new ChaosServer(transport.listenAddress(dir), random.split());
            timeoutNanos = TimeUnit.MILLISECONDS.toNanos(logUniform(random, 20, 2_000));
            long connectMillis = logUniform(random, 10, 3_000);
            int maxInFlight = (int) logUniform(random, 1, 4_096);
            boolean replay = random.nextBoolean();
            int executor = random.nextInt(3);
            completionPool = executor == 2 ? Executors.newFixedThreadPool(2) : null;
            Executor completions = executor == 0 ? java.util.concurrent.ForkJoinPool.commonPool()
                    : executor == 1 ? Runnable::run : completionPool;
            builder = AdderClient.builder(server.address()).callTimeout(Duration.ofNanos(timeoutNanos))
                    .connectTimeout(Duration.ofMillis(connectMillis)).maxInFlight(maxInFlight).replay(replay)
                    .completionExecutor(completions);
            platformCallers = 1 + random.nextInt(3);
            virtualCallers = virtual ? 1 + random.nextInt(16) : 0;
            asyncInFlight = (int) logUniform(random, 1, 256);
            largestBatch = (int) logUniform(random, 1, 2_000);
            closeAfterCalls = logUniform(random, 10, 100_000);
            longestRoundNanos = TimeUnit.MILLISECONDS.toNanos(300 + random.nextInt(2_700));
            settings = transport + ", call timeout " + millis(timeoutNanos) + " ms, connect timeout " + connectMillis
                    + " ms, maxInFlight " + maxInFlight + ", replay " + (replay ? "on" : "off") + ", completions "
                    + (executor == 0 ? "common pool" : executor == 1 ? "direct" : "2 threads") + "; " + platformCallers
                    + " platform, " + virtualCallers + " virtual callers, " + asyncInFlight + " async in flight, batches"
                    + " of up to " + largestBatch;
        }

        String summary() {
            return right.get() + " right, " + failed.get() + " failed, " + racedClose.get() + " raced close; server: "
                    + server.restarts.get() + " restarts, " + server.resets.get() + " resets, " + server.pauses.get()
                    + " pauses";
        }

        void run() throws Throwable {
            ExecutorService workers = Executors.newFixedThreadPool(platformCallers + 2);
            ExecutorService virtualWorkers = virtualCallers > 0 ? virtualThreads() : null;
            List<Future<?>> running = new ArrayList<>();
            try {
                try {
                    client = builder.connect();
                } catch (AdderException e) {
                    // the server may be down for a restart at this very moment: then the round has no client
                    failed.incrementAndGet();
                    return;
                }
                for (int i = 0; i < platformCallers; i++) {
                    running.add(workers.submit(caller(random.split(), "")));
                }
                for (int i = 0; i < virtualCallers; i++) {
                    running.add(virtualWorkers.submit(caller(random.split(), " on a virtual thread")));
                }
                running.add(workers.submit(asyncCaller(random.split())));
                running.add(workers.submit(batchCaller(random.split())));
                try {
                    await().pollInterval(Duration.ofMillis(5)).atMost(Duration.ofNanos(longestRoundNanos))
                            .until(() -> ended.get() >= closeAfterCalls || !violations.isEmpty());
                } catch (ConditionTimeoutException roundOver) {
                    // the round lasts until enough calls ended, or this long
                }
                closeBegan = System.nanoTime();
                closing = true;
                client.close();
                long closeTook = System.nanoTime() - closeBegan;
                long lastDeadline = System.nanoTime() + timeoutNanos + TimeUnit.SECONDS.toNanos(5);
                for (Future<?> worker : running) {
                    try {
                        worker.get(Math.max(0, lastDeadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                    } catch (TimeoutException e) {
                        violations.add("a caller's call did not end " + millis(timeoutNanos) + " ms + 5 s after close()");
                    }
                }
                try {
                    await().atMost(Duration.ofNanos(Math.max(TimeUnit.MILLISECONDS.toNanos(200), lastDeadline - System.nanoTime())))
                            .until(outstanding::isEmpty);
                } catch (ConditionTimeoutException e) {
                    violations.add(outstanding.size() + " futures of addAsync never completed");
                }
                try {
                    await().atMost(Duration.ofSeconds(1)).until(() -> clientThreads().isEmpty());
                } catch (ConditionTimeoutException e) {
                    violations.add("threads of the client left a second after close() returned (close took "
                            + millis(closeTook) + " ms): " + clientThreads());
                }
            } finally {
                closing = true;
                if (client != null) {
                    client.close();
                }
                workers.shutdownNow();
                if (virtualWorkers != null) {
                    virtualWorkers.shutdownNow();
                }
                if (completionPool != null) {
                    completionPool.shutdownNow();
                }
                server.close();
            }
        }

        private static List<String> clientThreads() {
            List<String> names = new ArrayList<>();
            for (Thread thread : Thread.getAllStackTraces().keySet()) {
                if (thread.isAlive() && thread.getName().startsWith("adder-client")) {
                    names.add(thread.getName());
                }
            }
            return names;
        }

        /** Blocking calls, one after another, until the round closes. */
        private Runnable caller(SplittableRandom random, String where) {
            return () -> {
                while (!closing) {
                    long x = random.nextLong();
                    long y = random.nextLong();
                    Supplier<String> call = () -> "add(" + x + ", " + y + ")" + where;
                    long start = System.nanoTime();
                    try {
                        long sum = client.add(x, y);
                        ended(call, start, System.nanoTime(), null, sum == x + y ? null : "answered " + sum);
                    } catch (RuntimeException e) {
                        ended(call, start, System.nanoTime(), e, null);
                    }
                }
            };
        }

        /** Asynchronous calls, up to {@link #asyncInFlight} at a time, until the round closes. */
        private Runnable asyncCaller(SplittableRandom random) {
            return () -> {
                Semaphore room = new Semaphore(asyncInFlight);
                while (!closing) {
                    try {
                        if (!room.tryAcquire(10, TimeUnit.MILLISECONDS)) {
                            continue;
                        }
                    } catch (InterruptedException e) {
                        return;
                    }
                    long x = random.nextLong();
                    long y = random.nextLong();
                    Supplier<String> call = () -> "addAsync(" + x + ", " + y + ")";
                    long start = System.nanoTime();
                    CompletableFuture<Long> future;
                    try {
                        future = client.addAsync(x, y);
                    } catch (RuntimeException e) {
                        ended(() -> call.get() + " (thrown by addAsync itself)", start, System.nanoTime(), e, null);
                        room.release();
                        continue;
                    }
                    long returned = System.nanoTime();
                    outstanding.add(future);
                    future.whenComplete((sum, e) -> {
                        long now = Math.max(System.nanoTime(), returned);
                        Throwable failure = e instanceof java.util.concurrent.CompletionException && e.getCause() != null
                                ? e.getCause() : e;
                        ended(call, start, now, failure, failure != null || sum == x + y ? null : "answered " + sum);
                        outstanding.remove(future);
                        room.release();
                    });
                }
            };
        }

        /** Batches of random sizes, one after another, until the round closes. */
        private Runnable batchCaller(SplittableRandom random) {
            return () -> {
                while (!closing) {
                    int pairs = 1 + random.nextInt(largestBatch);
                    long[] xs = new long[pairs];
                    long[] ys = new long[pairs];
                    for (int i = 0; i < pairs; i++) {
                        xs[i] = random.nextLong();
                        ys[i] = random.nextLong();
                    }
                    Supplier<String> call = () -> "addAll of " + pairs + " pairs";
                    long start = System.nanoTime();
                    try {
                        long[] sums = client.addAll(xs, ys);
                        long end = System.nanoTime();
                        String wrong = null;
                        for (int i = 0; i < pairs && wrong == null; i++) {
                            if (sums[i] != xs[i] + ys[i]) {
                                wrong = "pair " + i + " (" + xs[i] + ", " + ys[i] + ") answered " + sums[i];
                            }
                        }
                        ended(call, start, end, null, sums.length == pairs ? wrong : sums.length + " sums");
                    } catch (RuntimeException e) {
                        ended(call, start, System.nanoTime(), e, null);
                    }
                }
            };
        }

        /**
         * Checks how a call ended: {@code failure} null if it returned; {@code wrong} says how its answer
         * was wrong. {@code end} is taken before anything else is done, and the call described only on a
         * violation, so that the check's own work is not counted against the call.
         */
        private void ended(Supplier<String> call, long start, long end, Throwable failure, String wrong) {
            ended.incrementAndGet();
            long deadline = start + timeoutNanos;
            long late = end - deadline;
            long stood = late > SLACK_NANOS ? stalls.within(deadline - STALL_MARGIN_NANOS, end) : 0;
            if (late - stood > SLACK_NANOS) {
                String outcome = failure == null ? "answered" : failure.toString();
                violations.add(call.get() + " ended " + millis(late) + " ms past its " + millis(timeoutNanos) + " ms deadline"
                        + (stood > 0 ? " (the JVM stood still for " + millis(stood) + " ms of that)" : "")
                        + (closing ? " (close() had begun " + millis(end - closeBegan) + " ms before it ended)" : "")
                        + ": " + outcome);
            }
            if (wrong != null) {
                violations.add(call.get() + ": " + wrong);
            } else if (failure == null) {
                right.incrementAndGet();
            } else if (failure instanceof AdderException) {
                failed.incrementAndGet();
            } else if (failure instanceof IllegalStateException && closing && start - closeBegan >= -RACING_CLOSE_NANOS) {
                racedClose.incrementAndGet();
            } else {
                violations.add(call.get() + " failed with " + failure + ", not an AdderException"
                        + (closing ? " (made " + millis(closeBegan - start) + " ms before close() began)" : ""));
            }
        }
    }

    /**
     * A correct adder server, one thread a connection, that at random pauses
     * before answering what it read, stops reading after writing its answers,
     * writes in small pieces, resets a connection (over TCP a reset, on Unix
     * a close; after a random part of its answers, possibly in the middle of
     * one) and restarts: closes its listener and every connection, stays
     * away for up to 800 ms (the Unix socket file removed, or left behind
     * stale), and listens again at the same address.
     */
    static final class ChaosServer implements AutoCloseable {
        final AtomicInteger restarts = new AtomicInteger();
        final AtomicInteger resets = new AtomicInteger();
        final AtomicInteger pauses = new AtomicInteger();
        private final SplittableRandom random;
        private final AdderAddress address;
        private final List<SocketChannel> connections = new ArrayList<>();
        private final Thread restarter;
        private ServerSocketChannel listener;
        private volatile boolean closed;

        /** A server making trouble at random, or none if {@code random} is null. */
        ChaosServer(AdderAddress listen, SplittableRandom random) throws IOException {
            this.random = random;
            this.address = listen(listen);
            restarter = random == null ? null : new Thread(this::restartNowAndThen, "chaos-restarter");
            if (restarter != null) {
                restarter.setDaemon(true);
                restarter.start();
            }
        }

        AdderAddress address() {
            return address;
        }

        /** Binds, and starts accepting; returns the address bound (a TCP port 0 made real). */
        private synchronized AdderAddress listen(AdderAddress at) throws IOException {
            ServerSocketChannel opened;
            if (at.isUnix()) {
                Files.deleteIfExists(at.unixPath()); // a stale file left by the last restart
                opened = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                opened.bind(UnixDomainSocketAddress.of(at.unixPath()));
            } else {
                opened = ServerSocketChannel.open();
                opened.setOption(StandardSocketOptions.SO_REUSEADDR, true);
                opened.bind(new InetSocketAddress(at.host(), at.port()));
            }
            listener = opened;
            SplittableRandom seeds = random == null ? null : random.split();
            Thread acceptor = new Thread(() -> accept(opened, seeds), "chaos-acceptor");
            acceptor.setDaemon(true);
            acceptor.start();
            return AdderAddress.of(opened.getLocalAddress());
        }

        private void accept(ServerSocketChannel from, SplittableRandom seeds) {
            try {
                while (true) {
                    SocketChannel channel = from.accept();
                    SplittableRandom own;
                    synchronized (this) {
                        if (closed || from != listener) {
                            channel.close();
                            return;
                        }
                        connections.add(channel);
                        own = seeds == null ? null : seeds.split();
                    }
                    Thread serving = new Thread(() -> serve(channel, own), "chaos-serving");
                    serving.setDaemon(true);
                    serving.start();
                }
            } catch (IOException closedListener) {
                // a restart or the end
            }
        }

        private void restartNowAndThen() {
            SplittableRandom own;
            synchronized (this) {
                own = random.split();
            }
            while (!closed) {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(500 + own.nextInt(3_000)));
                if (closed) {
                    return;
                }
                boolean leaveFile = own.nextBoolean();
                synchronized (this) {
                    if (closed) {
                        return;
                    }
                    closeEverything(leaveFile);
                }
                restarts.incrementAndGet();
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(own.nextInt(800)));
                try {
                    synchronized (this) {
                        if (!closed) {
                            listen(address);
                        }
                    }
                } catch (IOException e) {
                    return; // the address is gone (the test is ending): the clients see a server that stays away
                }
            }
        }

        /** Under the lock: what a killed server leaves behind. */
        private void closeEverything(boolean leaveFile) {
            try {
                listener.close();
                if (address.isUnix() && !leaveFile) {
                    Files.deleteIfExists(address.unixPath());
                }
            } catch (IOException ignored) {
                // going anyway
            }
            for (SocketChannel channel : connections) {
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // going anyway
                }
            }
            connections.clear();
        }

        private void serve(SocketChannel channel, SplittableRandom random) {
            ByteBuffer in = ByteBuffer.allocate(64 * 1024).order(Protocol.BYTE_ORDER);
            ByteBuffer out = ByteBuffer.allocate(32 * 1024).order(Protocol.BYTE_ORDER);
            long nextFault = random == null ? Long.MAX_VALUE : System.nanoTime() + nextFaultIn(random);
            try (channel) {
                while (channel.read(in) >= 0) {
                    in.flip();
                    out.clear();
                    ScriptedServer.answerWholeRequests(in, out);
                    in.compact();
                    out.flip();
                    int fault = -1;
                    if (random != null && System.nanoTime() - nextFault >= 0) {
                        fault = random.nextInt(4);
                        nextFault = System.nanoTime() + nextFaultIn(random);
                    }
                    switch (fault) {
                        case 0 -> { // slow to answer
                            pauses.incrementAndGet();
                            LockSupport.parkNanos(pause(random));
                            writeAll(channel, out, out.remaining());
                        }
                        case 1 -> { // answers, then stops reading for a while
                            writeAll(channel, out, out.remaining());
                            pauses.incrementAndGet();
                            LockSupport.parkNanos(pause(random));
                        }
                        case 2 -> { // answers in small pieces
                            while (out.hasRemaining()) {
                                writeAll(channel, out, Math.min(out.remaining(), 1 + random.nextInt(12)));
                            }
                        }
                        case 3 -> { // a reset, after some of the answers
                            writeAll(channel, out, random.nextInt(out.remaining() + 1));
                            resets.incrementAndGet();
                            if (!address.isUnix()) {
                                channel.setOption(StandardSocketOptions.SO_LINGER, 0);
                            }
                            return;
                        }
                        default -> writeAll(channel, out, out.remaining());
                    }
                }
            } catch (IOException gone) {
                // the client went away, or a restart closed the connection
            } finally {
                synchronized (this) {
                    connections.remove(channel);
                }
            }
        }

        private static long nextFaultIn(SplittableRandom random) {
            return TimeUnit.MILLISECONDS.toNanos(50 + random.nextInt(500));
        }

        /** Mostly short, now and then past most call timeouts. */
        private static long pause(SplittableRandom random) {
            return TimeUnit.MILLISECONDS.toNanos(random.nextInt(10) == 0 ? 200 + random.nextInt(1_300) : 1 + random.nextInt(50));
        }

        private static void writeAll(SocketChannel channel, ByteBuffer out, int bytes) throws IOException {
            int limit = out.limit();
            out.limit(out.position() + bytes);
            while (out.hasRemaining()) {
                channel.write(out);
            }
            out.limit(limit);
        }

        @Override
        public void close() throws IOException {
            synchronized (this) {
                closed = true;
                closeEverything(false);
            }
            if (restarter != null) {
                LockSupport.unpark(restarter);
            }
        }
    }
}
