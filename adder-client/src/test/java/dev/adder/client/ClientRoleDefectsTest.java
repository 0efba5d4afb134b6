package dev.adder.client;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.adder.core.Protocol;
import dev.adder.server.AdderServer;
import dev.adder.testing.Transport;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Defects of the client's one role (the driver) found by reading the
 * rewrite of the client (Calls/Line/Outcomes/Background), each shown on real
 * sockets. Where an interleaving is too narrow to hit by chance, the test
 * pins it by holding the client's own lock ({@code Calls.lock}) from a
 * thread that legitimately runs on the driver (a completion on a direct
 * executor): the lock then stands for "this thread was descheduled here".
 */
@Timeout(120)
class ClientRoleDefectsTest {

    @TempDir
    Path dir;

    private static Object field(Object owner, Class<?> type, String name) throws ReflectiveOperationException {
        Field f = type.getDeclaredField(name);
        f.setAccessible(true);
        return f.get(owner);
    }

    private static Calls calls(AdderClient client) throws ReflectiveOperationException {
        return (Calls) field(client, AdderClient.class, "calls");
    }


    private static Thread readerThread() {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("adder-client-reader")) {
                return t;
            }
        }
        return null;
    }

    /**
     * CPU time (ms) of the native thread named {@code adder-client-re...} (the JVM names native threads
     * after their first 15 characters), from /proc: the test module does not read java.management.
     */
    private static long readerCpuMillis() throws Exception {
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                if (Files.readString(task.resolve("comm")).strip().equals("adder-client-re")) {
                    String stat = Files.readString(task.resolve("stat"));
                    String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) * 10; // utime, stime: 100 Hz ticks
                }
            }
        }
        throw new AssertionError("no adder-client-reader thread in /proc/self/task");
    }

    // ------------------------------------------------------------ 1: an interrupt closes everyone's connection

    /**
     * A regression test for a suspicion that proved wrong: a platform caller
     * that holds the role (it drives for itself) is interrupted while other
     * callers' requests are still to be written (the server reads slowly,
     * the socket is full). {@code over()} gives up its call, and then
     * {@code Driver.drive} still writes "what was queued meanwhile" on the
     * interrupted thread (and an interrupt that lands mid-loop meets a write,
     * a read or a connect). A blocking interruptible channel would close
     * itself there ({@code ClosedByInterruptException}) and fail every call
     * on the connection; a non-blocking {@code SocketChannel}'s reads, writes
     * and connects are not interruptible (since JDK 11), so only the
     * interrupted call ends. This stays true only while the channel is never
     * put in blocking mode.
     */
    @ParameterizedTest
    @EnumSource(Transport.class)
    void interruptingTheCallerThatDrivesFailsOnlyItsOwnCall(Transport transport) throws Exception {
        int calls = transport == Transport.UNIX ? 100_000 : 400_000; // far more than the socket buffers hold
        CountDownLatch ownSent = new CountDownLatch(1);
        CountDownLatch othersSent = new CountDownLatch(1);
        CountDownLatch go = new CountDownLatch(1);
        try (ScriptedServer server = new ScriptedServer(transport, dir, (n, channel) -> {
            if (n == 0) {
                long[][] own = ScriptedServer.readRequests(channel, 1);
                ownSent.countDown();
                long[][] others = ScriptedServer.readRequests(channel, 1_000);
                othersSent.countDown();
                go.await(); // reads nothing more meanwhile: the client's writes back up
                ScriptedServer.answer(channel, own);
                ScriptedServer.answer(channel, others);
            }
            ScriptedServer.serveAll(channel);
        });
             AdderClient client = AdderClient.builder(server.address()).replay(false).maxInFlight(1 << 20)
                     .callTimeout(Duration.ofSeconds(30)).connect()) {
            FutureTask<Long> own = new FutureTask<>(() -> client.add(1, 2));
            Thread driver = new Thread(own, "driving-caller");
            driver.start(); // the role is free: this caller drives
            assertTrue(ownSent.await(10, TimeUnit.SECONDS), "the driving caller's request never came");
            List<CompletableFuture<Long>> others = new ArrayList<>(calls);
            for (int i = 0; i < calls; i++) {
                others.add(client.addAsync(i, 7)); // written by the driving caller
            }
            assertTrue(othersSent.await(10, TimeUnit.SECONDS), "the others' requests never came");
            driver.interrupt();
            try {
                own.get(10, TimeUnit.SECONDS);
                fail("the interrupted call returned");
            } catch (ExecutionException e) {
                assertTrue(e.getCause() instanceof AdderException, "the interrupted call: " + e.getCause());
            }
            go.countDown();
            CompletableFuture.allOf(others.toArray(CompletableFuture[]::new)).exceptionally(e -> null)
                    .get(60, TimeUnit.SECONDS);
            int failed = 0;
            Throwable first = null;
            for (CompletableFuture<Long> other : others) {
                if (other.isCompletedExceptionally()) {
                    failed++;
                    if (first == null) {
                        first = other.handle((v, e) -> e).join();
                    }
                }
            }
            assertEquals(0, failed, failed + " of " + calls + " other callers' calls failed because the driving caller"
                    + " was interrupted; the first: " + first + " (connections: " + server.connections.get() + ")");
            assertEquals(1, server.connections.get(), "connections made");
        }
    }

    // ------------------------------------------------------------ 2: spinning under backpressure

    /**
     * A server that reads nothing (it applies backpressure) while the client
     * has far more queued than the socket holds: the driver's socket is full
     * ({@code out} has bytes left) and {@code Line.toSend} is not empty, so
     * {@code Driver.await} calls {@code selectNow()} (it looks for "requests
     * queued meanwhile", {@code mayHaveUnsent()}), returns at once, tries to
     * write (0 bytes), and again: the background driver burns a whole core for
     * as long as the server does not read, instead of waiting for writable. A
     * driver at rest uses well under a quarter of a core (it wakes once a
     * millisecond while answers are due).
     */
    @ParameterizedTest
    @EnumSource(Transport.class)
    void theDriverRestsWhileTheServerDoesNotRead(Transport transport) throws Exception {
        int calls = transport == Transport.UNIX ? 100_000 : 400_000;
        CountDownLatch stop = new CountDownLatch(1);
        try (ScriptedServer server = new ScriptedServer(transport, dir, (n, channel) -> stop.await());
             AdderClient client = AdderClient.builder(server.address()).maxInFlight(1 << 20)
                     .callTimeout(Duration.ofSeconds(30)).connect()) {
            for (int i = 0; i < calls; i++) {
                client.addAsync(i, 7);
            }
            // let the driver write what the socket takes; it is then stuck on a full socket for good
            ByteBuffer out = (ByteBuffer) field(field(client, AdderClient.class, "driver"), Driver.class, "out");
            await().atMost(Duration.ofSeconds(10)).until(out::hasRemaining);
            long cpu0 = readerCpuMillis();
            long wall0 = System.nanoTime();
            Thread.sleep(2_000); // a window to measure over, not a wait for a condition
            long cpu = readerCpuMillis() - cpu0;
            long wall = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - wall0);
            stop.countDown();
            assertTrue(cpu < wall / 4, "the background driver used " + cpu + " ms of CPU in " + wall
                    + " ms while the server did not read");
        }
    }

    // ------------------------------------------------------------ 3: given-up calls pile up past maxInFlight

    /**
     * maxInFlight's promise: "a server that stops reading cannot make the
     * client hold more than this many calls". A call given up before it was
     * written gives its room back at once ({@code Calls.giveUp}:
     * {@code inFlight--}) but stays in {@code Line.toSend} until a fill polls
     * it, and no fill polls while the socket is full: each round of calls
     * that time out there adds a round of dead calls (and their futures) to
     * the line, without bound. Four rounds of maxInFlight calls to a server
     * that reads nothing leave far more than maxInFlight in line.
     */
    @Test
    void callsGivenUpBeforeTheyAreWrittenDoNotPileUpPastMaxInFlight() throws Exception {
        int maxInFlight = 50_000; // 800 KB of requests: more than a Unix socket holds
        CountDownLatch stop = new CountDownLatch(1);
        try (ScriptedServer server = new ScriptedServer(Transport.UNIX, dir, (n, channel) -> stop.await());
             AdderClient client = AdderClient.builder(server.address()).maxInFlight(maxInFlight).replay(false)
                     .callTimeout(Duration.ofMillis(200)).connect()) {
            for (int round = 0; round < 4; round++) {
                List<CompletableFuture<Long>> futures = new ArrayList<>(maxInFlight);
                for (int i = 0; i < maxInFlight; i++) {
                    futures.add(client.addAsync(i, round));
                }
                CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).exceptionally(e -> null)
                        .get(20, TimeUnit.SECONDS);
            }
            Calls calls = calls(client);
            Line line = (Line) field(calls, Calls.class, "line");
            int held;
            calls.lock.lock();
            try {
                held = ((ArrayDeque<?>) field(line, Line.class, "toSend")).size()
                        + ((ArrayDeque<?>) field(line, Line.class, "sent")).size();
            } finally {
                calls.lock.unlock();
            }
            stop.countDown();
            // given-up calls are taken out in bulk, once more than 64 (Line.add): at most that many beyond
            assertTrue(held <= maxInFlight + 65, "the line holds " + held + " calls with maxInFlight " + maxInFlight
                    + " (in flight by its count: " + line.inFlight + ")");
        }
    }

    // ------------------------------------------------------------ 4: the role handed to a caller as it gives up after close

    /**
     * {@code Calls.over} passes on a role handed to a caller that gives up
     * ({@code handOff()}), but ignores what {@code handOff()} returns: true
     * when the client was closed meanwhile, meaning "you hold the role for
     * good: close the connection". close() found the role taken (by this
     * caller, promoted) and left closing to its holder; the holder drops it:
     * the connection and the selector stay open for good.
     *
     * <p>The interleaving: caller W is interrupted (or reaches its deadline)
     * and, in over(), has seen itself pending but not yet taken the lock;
     * meanwhile the driver D releases the role, handing it to W, and then
     * close() runs. Here D holds the lock from a completion on its own thread
     * (a direct executor) until it has called close(), which pins W there.
     */
    @ParameterizedTest
    @EnumSource(Transport.class)
    void aCallerHandedTheRoleAsItGivesUpAfterCloseStillClosesTheConnection(Transport transport) throws Exception {
        CountDownLatch firstRead = new CountDownLatch(1);
        CountDownLatch allRead = new CountDownLatch(1);
        CountDownLatch answer = new CountDownLatch(1);
        CountDownLatch closedByClient = new CountDownLatch(1);
        try (ScriptedServer server = new ScriptedServer(transport, dir, (n, channel) -> {
            long[][] d = ScriptedServer.readRequests(channel, 1);
            firstRead.countDown();
            long[][] fw = ScriptedServer.readRequests(channel, 2);
            allRead.countDown();
            answer.await();
            ScriptedServer.answer(channel, new long[][] {d[0], fw[0]}); // D's and F's in one write; W's never
            try {
                ScriptedServer.readRequests(channel, 1);
            } finally {
                closedByClient.countDown(); // end of stream or a reset: the client closed it
            }
        })) {
            AdderClient client = AdderClient.builder(server.address()).completionExecutor(Runnable::run)
                    .replay(false).callTimeout(Duration.ofSeconds(30)).connect();
            ReentrantLock lock = calls(client).lock;
            AtomicReference<String> trouble = new AtomicReference<>();
            AtomicReference<Thread> w = new AtomicReference<>();
            FutureTask<Long> dCall = new FutureTask<>(() -> {
                long sum = client.add(1, 2);
                client.close();
                if (lock.isHeldByCurrentThread()) {
                    lock.unlock();
                } else {
                    trouble.compareAndSet(null, "F's completion did not run on D");
                }
                return sum;
            });
            Thread d = new Thread(dCall, "D");
            d.start();
            assertTrue(firstRead.await(10, TimeUnit.SECONDS));
            CompletableFuture<Long> f = client.addAsync(3, 4);
            f.whenComplete((sum, e) -> { // runs on D, which drives, as it delivers F's answer
                if (Thread.currentThread() != d) {
                    trouble.compareAndSet(null, "F completed on " + Thread.currentThread());
                    return;
                }
                lock.lock(); // D is now "slow": W, interrupted, waits for the lock in over()
                w.get().interrupt();
                try {
                    await().atMost(Duration.ofSeconds(10)).until(() -> lock.hasQueuedThread(w.get()));
                } catch (RuntimeException timedOut) {
                    trouble.compareAndSet(null, "W never waited for the lock");
                }
            });
            FutureTask<Long> wCall = new FutureTask<>(() -> client.add(5, 6));
            w.set(new Thread(wCall, "W"));
            w.get().start();
            assertTrue(allRead.await(10, TimeUnit.SECONDS));
            await().atMost(Duration.ofSeconds(10)).until(() -> w.get().getState() == Thread.State.TIMED_WAITING);
            answer.countDown();
            assertEquals(3L, dCall.get(10, TimeUnit.SECONDS));
            try {
                wCall.get(10, TimeUnit.SECONDS);
                fail("W's call returned");
            } catch (ExecutionException e) {
                assertTrue(e.getCause() instanceof AdderException, "W: " + e.getCause());
            }
            assertNull(trouble.get());
            assertTrue(closedByClient.await(5, TimeUnit.SECONDS),
                    "the client was closed but its connection is still open 5 s later");
            client.close(); // closed already by D
        }
    }

    // ------------------------------------------------------------ 5: one throw kills the background driver

    /**
     * {@code Driver.drive} fails the calls on the connection on an unexpected
     * throwable ("a bug, or out of memory: the calls on the connection must
     * not hang") and rethrows it; on {@code adder-client-reader} it leaves
     * {@code Background.run}, and the thread is gone, while {@code Background}
     * still counts it as started: each later hand of the role unparks a dead
     * thread. Here the completion executor throws once (a
     * {@code RuntimeException} other than {@code RejectedExecutionException};
     * an {@code OutOfMemoryError: unable to create native thread} from a
     * {@code ThreadPoolExecutor} that cannot start a worker does the same,
     * but surefire's fork exits on it); the
     * future of that completion is never completed, and every asynchronous
     * call after it hangs for good, past its deadline (nobody expires it),
     * and holds the role, so blocking calls time out too.
     */
    @ParameterizedTest
    @EnumSource(Transport.class)
    void oneThrowFromTheCompletionExecutorDoesNotStopTheClient(Transport transport) throws Exception {
        AtomicInteger executions = new AtomicInteger();
        Executor flaky = task -> {
            if (executions.getAndIncrement() == 0) {
                throw new IllegalStateException("the executor could not take the task (thrown by the test, once)");
            }
            task.run();
        };
        try (AdderServer server = transport.startServer(dir);
             AdderClient client = AdderClient.builder(server.addresses().get(0)).completionExecutor(flaky)
                     .callTimeout(Duration.ofMillis(500)).connect()) {
            CompletableFuture<Long> first = client.addAsync(1, 2);
            await().dontCatchUncaughtExceptions().atMost(Duration.ofSeconds(10)).until(() -> executions.get() > 0);
            CompletableFuture<Long> second = client.addAsync(3, 4);
            String secondOutcome;
            try {
                secondOutcome = "" + second.get(5, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                secondOutcome = "not completed 5 s later (its call timeout is 500 ms); adder-client-reader "
                        + (readerThread() == null ? "is gone" : "is alive");
            } catch (ExecutionException e) {
                secondOutcome = "failed: " + e.getCause(); // acceptable: ended, and an AdderException
                assertTrue(e.getCause() instanceof AdderException, secondOutcome);
            }
            String blocking;
            try {
                blocking = "" + client.add(5, 6);
            } catch (AdderException e) {
                blocking = e.toString();
            }
            assertEquals("7 / 11 / first completed", secondOutcome + " / " + blocking + " / first "
                    + (first.isDone() ? "completed" : "never completed"));
        }
    }
}
