package dev.adder.client;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.server.AdderServer;
import dev.adder.testing.Skip;
import dev.adder.testing.Transport;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Many callers on one client and its one connection: pipelined, matched in order, failing cleanly. */
@Timeout(120)
class PipeliningTest {

    @TempDir
    Path dir;

    /** Each caller adds (i, id * 1e9): a misrouted answer shows as another caller's sum. */
    private static long callMany(AdderClient client, int id, int calls) {
        long wrong = 0;
        for (int i = 0; i < calls; i++) {
            long y = id * 1_000_000_000L;
            if (client.add(i, y) != i + y) {
                wrong++;
            }
        }
        return wrong;
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void sixtyFourPlatformThreadsShareOneConnectionAndEachGetsItsOwnAnswers(Transport transport) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(64);
        try (AdderServer server = transport.startServer(dir);
             AdderClient client = AdderClient.builder(server.addresses().get(0)).connect()) {
            List<Future<Long>> wrong = new ArrayList<>();
            for (int t = 0; t < 64; t++) {
                int id = t;
                wrong.add(pool.submit(() -> callMany(client, id, 2_000)));
            }
            for (Future<Long> result : wrong) {
                assertEquals(0, result.get(), "answers handed to the wrong caller");
            }
            assertEquals(64 * 2_000, server.stats().requests());
            assertEquals(1, server.stats().accepted(), "the shared client used more than one connection");
        } finally {
            pool.shutdownNow();
        }
    }

    /** Virtual threads exist from Java 21; the library is built for 17, so they are reached by reflection. */
    private static ExecutorService virtualThreads() throws Throwable {
        return (ExecutorService) MethodHandles.publicLookup().findStatic(Executors.class,
                "newVirtualThreadPerTaskExecutor", MethodType.methodType(ExecutorService.class)).invoke();
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void tenThousandVirtualThreadsShareOneConnectionAndEachGetsItsOwnAnswers(Transport transport) throws Throwable {
        Skip.unless(Runtime.version().feature() >= 21,
                "virtual threads need Java 21 or later; .ci/run runs this test again on such a JDK");
        AtomicLong wrong = new AtomicLong();
        try (AdderServer server = transport.startServer(dir);
             AdderClient client = AdderClient.builder(server.addresses().get(0)).connect()) {
            ExecutorService virtual = virtualThreads();
            for (int t = 0; t < 10_000; t++) {
                int id = t;
                virtual.submit(() -> wrong.addAndGet(callMany(client, id, 20)));
            }
            virtual.shutdown();
            assertTrue(virtual.awaitTermination(100, TimeUnit.SECONDS));
            assertEquals(0, wrong.get(), "answers handed to the wrong caller");
            assertEquals(10_000 * 20, server.stats().requests());
            assertEquals(1, server.stats().accepted());
            long carriers = Thread.getAllStackTraces().keySet().stream()
                    .filter(thread -> thread.getName().matches("ForkJoinPool-\\d+-worker-\\d+")).count();
            assertTrue(carriers <= Runtime.getRuntime().availableProcessors(),
                    carriers + " carrier threads: a waiting virtual thread blocked its carrier");
        }
    }

    @Test
    void virtualThreadsGiveUpAtTheirDeadlinesThoughTheyParkWithoutOne() throws Throwable {
        Skip.unless(Runtime.version().feature() >= 21,
                "virtual threads need Java 21 or later; .ci/run runs this test again on such a JDK");
        try (ScriptedServer server = new ScriptedServer(Transport.UNIX, dir, (n, channel) -> {
            new CountDownLatch(1).await(); // never answers
        });
             AdderClient client = AdderClient.builder(server.address()).callTimeout(Duration.ofMillis(300)).connect()) {
            ExecutorService virtual = virtualThreads();
            List<Future<Long>> waited = new ArrayList<>();
            for (int t = 0; t < 100; t++) {
                waited.add(virtual.submit(() -> {
                    long start = System.nanoTime();
                    assertThrows(AdderTimeoutException.class, () -> client.add(1, 2));
                    return System.nanoTime() - start;
                }));
            }
            for (Future<Long> each : waited) {
                long millis = TimeUnit.NANOSECONDS.toMillis(each.get(30, TimeUnit.SECONDS));
                assertTrue(millis >= 250 && millis < 5_000, "a virtual thread gave up after " + millis + " ms");
            }
            virtual.shutdown();
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aCallThatTimedOutHasItsLateAnswerDroppedAndLaterCallsGetTheirOwn(Transport transport) throws Exception {
        CountDownLatch firstGaveUp = new CountDownLatch(1);
        try (ScriptedServer server = new ScriptedServer(transport, dir, (n, channel) -> {
            long[][] first = ScriptedServer.readRequests(channel, 1);
            firstGaveUp.await(); // answers the first request only once its caller has given up on it
            ScriptedServer.answer(channel, first);
            ScriptedServer.serveCorrectly(channel);
        });
             AdderClient client = AdderClient.builder(server.address()).callTimeout(Duration.ofMillis(300)).connect()) {
            assertThrows(AdderTimeoutException.class, () -> client.add(1, 1));
            firstGaveUp.countDown();
            // the late answer (2) is on its way now, ahead of these calls' answers
            for (int i = 0; i < 100; i++) {
                assertEquals(1000 + i, client.add(1000, i), "call " + i);
            }
            assertEquals(1, server.connections.get(), "a timeout must not cost the connection");
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aCallerWhoseTurnToReadCameAsItTimedOutPassesTheTurnOn(Transport transport) throws Exception {
        // many callers, a few with short deadlines: nobody is left waiting for a reader who left
        try (AdderServer server = transport.startServer(dir);
             AdderClient client = AdderClient.builder(server.addresses().get(0)).callTimeout(Duration.ofSeconds(20)).connect()) {
            ExecutorService pool = Executors.newFixedThreadPool(16);
            try {
                List<Future<Long>> results = new ArrayList<>();
                for (int t = 0; t < 16; t++) {
                    int id = t;
                    results.add(pool.submit(() -> callMany(client, id, 3_000)));
                }
                for (Future<Long> result : results) {
                    assertEquals(0, result.get());
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    enum Misbehaviour {
        ONE_BYTE_TOO_MANY, SEVEN_BYTES_THEN_CLOSE, RESET_MID_PIPELINE
    }

    @ParameterizedTest
    @EnumSource(Misbehaviour.class)
    void withoutReplayAMisbehavingServerFailsEveryCallInFlightAndTheNextCallWorks(Misbehaviour misbehaviour)
            throws Exception {
        for (Transport transport : Transport.values()) {
            CountDownLatch allSent = new CountDownLatch(1);
            try (ScriptedServer server = new ScriptedServer(transport, dir.resolve(transport.name()).toFile().mkdir()
                    ? dir.resolve(transport.name()) : dir, (n, channel) -> {
                if (n > 0) {
                    ScriptedServer.serveCorrectly(channel); // the next connection is a healthy server
                    return;
                }
                long[][] requests = ScriptedServer.readRequests(channel, 8);
                allSent.countDown();
                switch (misbehaviour) {
                    case ONE_BYTE_TOO_MANY -> {
                        ScriptedServer.answer(channel, requests);
                        channel.write(ByteBuffer.wrap(new byte[] {42}));
                        ScriptedServer.readRequests(channel, 1); // hold the connection open
                    }
                    case SEVEN_BYTES_THEN_CLOSE -> {
                        channel.write(ByteBuffer.wrap(new byte[7]));
                        channel.close();
                    }
                    case RESET_MID_PIPELINE -> {
                        ScriptedServer.answer(channel, new long[][] {requests[0], requests[1]});
                        if (transport == Transport.TCP) {
                            channel.setOption(StandardSocketOptions.SO_LINGER, 0);
                        }
                        channel.close();
                    }
                }
            });
                 AdderClient client = AdderClient.builder(server.address()).callTimeout(Duration.ofSeconds(30))
                         .replay(false).connect()) {
                List<CompletableFuture<Long>> calls = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    calls.add(client.addAsync(i, 100));
                }
                assertTrue(allSent.await(30, TimeUnit.SECONDS));
                await().atMost(Duration.ofSeconds(30)).until(() -> calls.stream().allMatch(CompletableFuture::isDone));
                int answered = 0;
                for (int i = 0; i < 8; i++) {
                    try {
                        assertEquals(i + 100, calls.get(i).get(), transport + " call " + i + " got a wrong number");
                        answered++;
                    } catch (ExecutionException e) {
                        assertTrue(e.getCause() instanceof AdderException, e.getCause().toString());
                        assertTrue(e.getCause().getMessage().contains(server.address().toString()), e.getCause().getMessage());
                    }
                }
                switch (misbehaviour) {
                    case ONE_BYTE_TOO_MANY -> {
                        // the stray byte comes with the answers or after them: either way it fails that
                        // connection, never shifting an answer onto the wrong call
                        try {
                            assertEquals(3, client.add(1, 2));
                        } catch (AdderException e) {
                            assertTrue(e.getMessage().contains("answer no request"), e.getMessage());
                        }
                    }
                    case SEVEN_BYTES_THEN_CLOSE -> assertEquals(0, answered);
                    case RESET_MID_PIPELINE -> assertTrue(answered <= 2, answered + " answered");
                }
                assertEquals(30, client.add(10, 20), transport + ": the next call, on a new connection");
            }
        }
    }

    @Test
    void closeDuringAThousandAsyncCallsCompletesEveryFutureAndLeavesNoThread() throws Exception {
        try (ScriptedServer server = new ScriptedServer(Transport.UNIX, dir, (n, channel) -> {
            ScriptedServer.readRequests(channel, 1_000); // reads them all, answers none
            ScriptedServer.readRequests(channel, 1);
        })) {
            AdderClient client = AdderClient.builder(server.address()).connect();
            List<CompletableFuture<Long>> calls = new ArrayList<>();
            for (int i = 0; i < 1_000; i++) {
                calls.add(client.addAsync(i, i));
            }
            assertTrue(readerThreads() >= 1, "no reader thread was started for the asynchronous calls");
            client.close();
            await().atMost(Duration.ofSeconds(10)).until(() -> calls.stream().allMatch(CompletableFuture::isDone));
            for (CompletableFuture<Long> call : calls) {
                assertTrue(call.isCompletedExceptionally());
                ExecutionException e = assertThrows(ExecutionException.class, call::get);
                assertEquals("the client of " + server.address() + " was closed", e.getCause().getMessage());
            }
            assertEquals(0, readerThreads(), "a thread of the client outlived close()");
            client.close(); // idempotent
        }
    }

    private static long readerThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(thread -> thread.getName().startsWith("adder-client-reader") && thread.isAlive()).count();
    }

    @Test
    void theInFlightCapHoldsCallsBackFromAServerThatNeverReadsAndEachTimesOut() throws Exception {
        try (ScriptedServer server = new ScriptedServer(Transport.UNIX, dir, (n, channel) -> {
            new CountDownLatch(1).await(); // accepts, never reads
        });
             AdderClient client = AdderClient.builder(server.address()).maxInFlight(32)
                     .callTimeout(Duration.ofMillis(500)).connect()) {
            List<CompletableFuture<Long>> calls = new ArrayList<>();
            for (int i = 0; i < 32; i++) {
                calls.add(client.addAsync(i, i));
            }
            long start = System.nanoTime();
            AdderTimeoutException e = assertThrows(AdderTimeoutException.class, () -> client.add(1, 1));
            assertEquals("timed out waiting for room to send to " + server.address() + " (32 calls in flight)", e.getMessage());
            assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(400), "the 33rd call did not wait");
            await().atMost(Duration.ofSeconds(10)).until(() -> calls.stream().allMatch(CompletableFuture::isDone));
            for (CompletableFuture<Long> call : calls) {
                ExecutionException failed = assertThrows(ExecutionException.class, call::get);
                assertTrue(failed.getCause() instanceof AdderTimeoutException, failed.getCause().toString());
            }
        }
    }

    @Test
    void everyCallersDeadlineStartsWhenItCallsNotWhenItsTurnComes() throws Exception {
        try (ScriptedServer server = new ScriptedServer(Transport.UNIX, dir, (n, channel) -> {
            new CountDownLatch(1).await(); // never answers
        });
             AdderClient client = AdderClient.builder(server.address()).callTimeout(Duration.ofMillis(500)).connect()) {
            ExecutorService pool = Executors.newFixedThreadPool(16);
            try {
                List<Future<Long>> elapsed = new ArrayList<>();
                for (int t = 0; t < 16; t++) {
                    elapsed.add(pool.submit(() -> {
                        long start = System.nanoTime();
                        assertThrows(AdderTimeoutException.class, () -> client.add(1, 2));
                        return System.nanoTime() - start;
                    }));
                }
                for (Future<Long> waited : elapsed) {
                    // taking turns, the 16th caller would wait 16 x 500 ms
                    assertTrue(waited.get() < TimeUnit.SECONDS.toNanos(4), "a caller waited " + waited.get() / 1_000_000 + " ms");
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void anInterruptEndsAWaitAndKeepsTheInterruptStatus() throws Exception {
        try (ScriptedServer server = new ScriptedServer(Transport.UNIX, dir, (n, channel) -> {
            new CountDownLatch(1).await();
        });
             AdderClient client = AdderClient.builder(server.address()).callTimeout(Duration.ofSeconds(60)).connect()) {
            CompletableFuture<Boolean> interruptedAfter = new CompletableFuture<>();
            Thread caller = new Thread(() -> {
                try {
                    client.add(1, 2);
                    interruptedAfter.complete(false);
                } catch (AdderException e) {
                    interruptedAfter.complete(Thread.currentThread().isInterrupted());
                }
            });
            caller.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> caller.getState() == Thread.State.TIMED_WAITING
                    || caller.getState() == Thread.State.WAITING || caller.getState() == Thread.State.RUNNABLE);
            caller.interrupt();
            assertTrue(interruptedAfter.get(10, TimeUnit.SECONDS), "the interrupt status was lost");
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void addAsyncIsCompletedOffTheCallersThreadWithTheSum(Transport transport) throws Exception {
        java.util.Set<Thread> completers = java.util.concurrent.ConcurrentHashMap.newKeySet();
        ExecutorService completions = Executors.newFixedThreadPool(2);
        try (AdderServer server = transport.startServer(dir);
             AdderClient client = AdderClient.builder(server.addresses().get(0)).completionExecutor(command ->
                     completions.execute(() -> {
                         completers.add(Thread.currentThread());
                         command.run();
                     })).connect()) {
            List<CompletableFuture<Long>> sums = new ArrayList<>();
            for (int i = 0; i < 10_000; i++) {
                sums.add(client.addAsync(i, -7));
            }
            for (int i = 0; i < 10_000; i++) {
                assertEquals(i - 7, sums.get(i).get(30, TimeUnit.SECONDS));
            }
            assertFalse(completers.isEmpty());
            assertFalse(completers.contains(Thread.currentThread()), "completed on the caller's thread");
            // blocking calls and batches mix with asynchronous ones on the same connection
            CompletableFuture<Long> pending = client.addAsync(2, 3);
            assertEquals(9, client.add(4, 5));
            assertEquals(2, client.addAll(new long[] {1}, new long[] {1})[0]);
            assertEquals(5, pending.get(30, TimeUnit.SECONDS));
            assertEquals(1, server.stats().accepted());
        } finally {
            completions.shutdownNow();
        }
    }

    @Test
    void aConnectionTheServerClosedWhileIdleIsReplacedBeforeTheNextCall() throws Exception {
        try (ScriptedServer server = new ScriptedServer(Transport.UNIX, dir, (n, channel) -> {
            if (n == 0) {
                ScriptedServer.answer(channel, ScriptedServer.readRequests(channel, 1));
                channel.close(); // an idle timeout, say
                return;
            }
            ScriptedServer.serveCorrectly(channel);
        });
             AdderClient client = AdderClient.builder(server.address()).connect()) {
            assertEquals(3, client.add(1, 2));
            await().atMost(Duration.ofSeconds(10)).until(() -> server.connections.get() == 1);
            assertEquals(7, client.add(3, 4)); // not a failure: nothing was sent on the closed connection
            assertEquals(2, server.connections.get());
        }
        assertFalse(Thread.currentThread().isInterrupted());
    }

    @Test
    void asyncCallsGiveUpAtTheirDeadlineWithoutCostingTheConnection() throws Exception {
        CountDownLatch timedOut = new CountDownLatch(1);
        try (ScriptedServer server = new ScriptedServer(Transport.TCP, dir, (n, channel) -> {
            long[][] first = ScriptedServer.readRequests(channel, 3);
            timedOut.await();
            ScriptedServer.answer(channel, first);
            ScriptedServer.serveCorrectly(channel);
        });
             AdderClient client = AdderClient.builder(server.address()).callTimeout(Duration.ofMillis(300)).connect()) {
            List<CompletableFuture<Long>> early = List.of(client.addAsync(1, 1), client.addAsync(2, 2), client.addAsync(3, 3));
            for (CompletableFuture<Long> call : early) {
                ExecutionException e = assertThrows(ExecutionException.class, () -> call.get(10, TimeUnit.SECONDS));
                assertTrue(e.getCause() instanceof AdderTimeoutException, e.getCause().toString());
            }
            timedOut.countDown();
            assertEquals(11, client.addAsync(5, 6).get(10, TimeUnit.SECONDS));
            assertEquals(1, server.connections.get());
        }
    }
}
