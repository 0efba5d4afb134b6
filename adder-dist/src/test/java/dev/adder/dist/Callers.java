package dev.adder.dist;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.client.AdderClient;
import dev.adder.client.AdderException;
import dev.adder.client.AdderTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
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

/**
 * Clients calling without pause, one thread each, one call after another
 * with a 10 s call timeout; every answer checked, and every outcome counted
 * by the phase of the test it began in: answered right, answered wrong,
 * failed at its deadline, failed otherwise.
 */
final class Callers {

    private final int size;
    private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();
    private final List<String> failures = Collections.synchronizedList(new ArrayList<>());
    private final AtomicReference<String> phase;
    /** Right answers of each client. */
    private final AtomicLongArray answered;
    private final AtomicBoolean stop = new AtomicBoolean();
    private final ExecutorService pool;
    private final List<AdderClient> clients = new ArrayList<>();
    private final List<Future<?>> callers = new ArrayList<>();
    private long replayed;
    private boolean stopped;

    /**
     * Connects one client to each address, and starts them calling in {@code firstPhase}.
     *
     * @param addresses one per client: where it connects (HAProxy's frontends)
     * @param configure what a test sets on each client's builder besides its call timeout (TLS, say)
     */
    Callers(List<String> addresses, String firstPhase, ClientSetup configure) throws Exception {
        this.size = addresses.size();
        this.phase = new AtomicReference<>(firstPhase);
        this.answered = new AtomicLongArray(size);
        this.pool = Executors.newFixedThreadPool(size);
        try {
            for (int i = 0; i < size; i++) {
                AdderClient.Builder builder = AdderClient.builder(addresses.get(i)).callTimeout(Duration.ofSeconds(10));
                AdderClient client = configure.apply(builder).connect();
                clients.add(client);
                int index = i;
                callers.add(pool.submit(() -> call(client, index)));
            }
        } catch (Exception | Error e) {
            stop();
            throw e;
        }
    }

    /** What a test adds to a client's builder. */
    @FunctionalInterface
    interface ClientSetup {
        AdderClient.Builder apply(AdderClient.Builder builder) throws Exception;
    }

    int size() {
        return size;
    }

    /** The calls begun from now on count in {@code name}. */
    void phase(String name) {
        phase.set(name);
    }

    /** One client calling until told to stop; every answer checked, every failure counted. */
    private Void call(AdderClient client, int index) {
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

    long count(String during, String outcome) {
        LongAdder adder = counts.get(during + ":" + outcome);
        return adder == null ? 0 : adder.sum();
    }

    /** Waits until every client has had a right answer more than now. */
    void everyClientAdvances(String condition) {
        long[] before = new long[size];
        for (int i = 0; i < size; i++) {
            before[i] = answered.get(i);
        }
        await("every client answered while " + condition).atMost(Duration.ofSeconds(60)).until(() -> {
            for (int i = 0; i < size; i++) {
                if (answered.get(i) <= before[i]) {
                    return false;
                }
            }
            return true;
        });
    }

    /** Waits for this many more right answers in the current phase. */
    void progress(long more) {
        String now = phase.get();
        long target = count(now, "right") + more;
        await(more + " more answers during " + now).atMost(Duration.ofSeconds(60))
                .until(() -> count(now, "right") >= target);
    }

    /** Stops the callers, waits for their last calls, and closes the clients; once. */
    void stop() throws Exception {
        if (stopped) {
            return;
        }
        stopped = true;
        stop.set(true);
        try {
            for (Future<?> caller : callers) {
                caller.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
            for (AdderClient client : clients) {
                replayed += client.replayedCalls();
                client.close();
            }
        }
    }

    /** Calls the clients sent again on a new connection (after stop). */
    long replayed() {
        return replayed;
    }

    /** A line per phase: its outcomes. */
    String report(List<String> phases) {
        StringBuilder report = new StringBuilder();
        for (String p : phases) {
            report.append(String.format("%n  %-8s %,9d right, %d wrong, %d failed at their deadline, %d failed otherwise",
                    p, count(p, "right"), count(p, "wrong"), count(p, "timeout"), count(p, "failed")));
        }
        return report.toString();
    }

    /**
     * No wrong answer in any phase, a right one in each, no call failed but at its deadline, and in
     * {@code calm} phases not even that.
     */
    void assertOutcomes(List<String> phases, List<String> calm, String report) {
        for (String p : phases) {
            assertEquals(0, count(p, "wrong"), p + ": wrong answers\n" + report);
            assertEquals(0, count(p, "failed"), p + ": calls failed other than at their deadline: " + failures + "\n" + report);
            assertTrue(count(p, "right") > 0, p + ": no call answered\n" + report);
        }
        for (String p : calm) {
            assertEquals(0, count(p, "timeout"), p + ": calls failed at their deadline: " + failures + "\n" + report);
        }
    }
}
