package dev.adder.client;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import dev.adder.testing.Transport;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Replay, on by default: calls on a lost connection are sent again on a new
 * one, each getting its own right answer exactly once; connects that are
 * refused are tried again for the connect timeout; nothing goes past a
 * call's deadline; a closed client ends its replays.
 */
@Timeout(60)
class ReplayTest {

    @TempDir
    Path dir;

    /** How the first connection is lost once it has read every request. */
    enum Loss {
        /** Seven bytes of the first answer, then end of stream. */
        CLOSED_MID_ANSWER,
        /** Two answers, then a reset (on TCP; a close on Unix). */
        RESET_AFTER_TWO_ANSWERS,
        /** No answer at all, then end of stream: what a SIGKILLed server or a proxy cutting the session does. */
        CLOSED_UNANSWERED
    }

    @ParameterizedTest
    @EnumSource(Loss.class)
    void callsOnALostConnectionAreAnsweredRightOnTheNext(Loss loss) throws Exception {
        for (Transport transport : Transport.values()) {
            Path here = dir.resolve(loss + "-" + transport);
            here.toFile().mkdirs();
            int async = 8;
            int blocking = 4;
            try (ScriptedServer server = new ScriptedServer(transport, here, (n, channel) -> {
                if (n > 0) {
                    ScriptedServer.serveCorrectly(channel);
                    return;
                }
                long[][] requests = ScriptedServer.readRequests(channel, async + blocking);
                switch (loss) {
                    case CLOSED_MID_ANSWER -> channel.write(ByteBuffer.wrap(new byte[7]));
                    case RESET_AFTER_TWO_ANSWERS -> {
                        ScriptedServer.answer(channel, new long[][] {requests[0], requests[1]});
                        if (transport == Transport.TCP) {
                            channel.setOption(StandardSocketOptions.SO_LINGER, 0);
                        }
                    }
                    case CLOSED_UNANSWERED -> { }
                }
                channel.close();
            });
                 AdderClient client = AdderClient.builder(server.address()).callTimeout(Duration.ofSeconds(30)).connect()) {
                List<CompletableFuture<Long>> calls = new ArrayList<>();
                for (int i = 0; i < async; i++) {
                    calls.add(client.addAsync(i, 100));
                }
                ExecutorService callers = Executors.newFixedThreadPool(blocking);
                try {
                    for (int i = 0; i < blocking; i++) {
                        long x = 1_000 + i;
                        calls.add(CompletableFuture.supplyAsync(() -> client.add(x, -1), callers));
                    }
                    for (int i = 0; i < async; i++) {
                        assertEquals(i + 100, calls.get(i).get(30, TimeUnit.SECONDS), transport + " async call " + i);
                    }
                    for (int i = 0; i < blocking; i++) {
                        assertEquals(999 + i, calls.get(async + i).get(30, TimeUnit.SECONDS), transport + " blocking call " + i);
                    }
                } finally {
                    callers.shutdownNow();
                }
                assertEquals(2, server.connections.get(), transport + ": one connection lost, one to replay on");
                long replayed = client.replayedCalls();
                assertTrue(replayed >= async + blocking - 2 && replayed <= async + blocking,
                        transport + ": " + replayed + " calls replayed");
                if (loss == Loss.CLOSED_UNANSWERED) {
                    assertEquals(async + blocking, replayed);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aCallMadeWhileTheServerRestartsWaitsForItInsteadOfFailing(Transport transport) throws Exception {
        AdderServer first = started(transport.listenAddress(dir));
        AdderAddress address = first.addresses().get(0);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (AdderClient client = AdderClient.builder(address).connectTimeout(Duration.ofSeconds(30)).connect()) {
            assertEquals(3, client.add(1, 2));
            first.close();
            Future<Long> call = pool.submit(() -> client.add(7, 10));
            // the caller tries to connect again and again: the server is down and the call has not failed
            await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(20)).until(() -> !call.isDone());
            try (AdderServer second = started(address)) {
                assertEquals(17, call.get(30, TimeUnit.SECONDS));
                assertEquals(1, second.stats().requests());
            }
            assertEquals(0, client.replayedCalls(), "nothing was in flight: the call was never sent twice");
        } finally {
            pool.shutdownNow();
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aServerGoneForGoodIsReportedAfterTheConnectTimeout(Transport transport) throws Exception {
        AdderServer gone = started(transport.listenAddress(dir));
        AdderAddress address = gone.addresses().get(0);
        try (AdderClient client = AdderClient.builder(address).connectTimeout(Duration.ofMillis(200))
                .callTimeout(Duration.ofSeconds(30)).connect()) {
            gone.close();
            AdderException e = assertThrows(AdderException.class, () -> client.add(1, 2));
            assertFalse(e instanceof AdderTimeoutException, e.toString());
            assertTrue(e.getMessage().startsWith("cannot connect to " + address + ": "), e.getMessage());
            CompletableFuture<Long> later = client.addAsync(1, 2);
            ExecutionException failed = assertThrows(ExecutionException.class, () -> later.get(30, TimeUnit.SECONDS));
            assertTrue(failed.getCause().getMessage().startsWith("cannot connect to " + address + ": "),
                    failed.getCause().getMessage());
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void replaysEndAtTheCallsDeadline(Transport transport) throws Exception {
        // every connection reads one request and closes unanswered: a proxy with no backend left
        try (ScriptedServer server = new ScriptedServer(transport, dir, (n, channel) -> {
            ScriptedServer.readRequests(channel, 1);
            channel.close();
        });
             AdderClient client = AdderClient.builder(server.address()).callTimeout(Duration.ofMillis(300)).connect()) {
            AdderTimeoutException e = assertThrows(AdderTimeoutException.class, () -> client.add(1, 2));
            assertTrue(e.getMessage().startsWith("timed out waiting for an answer from " + server.address()
                    + ": its connection was lost "), e.getMessage());
            assertTrue(e.getMessage().contains("last failure: the server closed the connection"), e.getMessage());
            ExecutionException failed = assertThrows(ExecutionException.class,
                    () -> client.addAsync(3, 4).get(30, TimeUnit.SECONDS));
            assertTrue(failed.getCause() instanceof AdderTimeoutException, failed.getCause().toString());
            AdderTimeoutException batch = assertThrows(AdderTimeoutException.class,
                    () -> client.addAll(new long[] {1, 2}, new long[] {3, 4}));
            assertTrue(batch.getMessage().contains("its connection was lost"), batch.getMessage());
            assertTrue(server.connections.get() > 2, server.connections + " connections");
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aBatchGoesOnFromItsFirstUnansweredPair(Transport transport) throws Exception {
        int pairs = 1_000;
        int answeredFirst = 400;
        AtomicInteger readBySecond = new AtomicInteger();
        try (ScriptedServer server = new ScriptedServer(transport, dir, (n, channel) -> {
            if (n == 0) {
                long[][] all = ScriptedServer.readRequests(channel, pairs);
                ScriptedServer.answer(channel, Arrays.copyOf(all, answeredFirst));
                channel.close();
                return;
            }
            long[][] rest = ScriptedServer.readRequests(channel, pairs - answeredFirst);
            readBySecond.set(rest.length);
            ScriptedServer.answer(channel, rest);
            ScriptedServer.serveCorrectly(channel);
        });
             AdderClient client = AdderClient.builder(server.address()).callTimeout(Duration.ofSeconds(10)).connect()) {
            long[] xs = new long[pairs];
            long[] ys = new long[pairs];
            for (int i = 0; i < pairs; i++) {
                xs[i] = i * 1_000_003L;
                ys[i] = -i;
            }
            long[] sums = client.addAll(xs, ys);
            for (int i = 0; i < pairs; i++) {
                assertEquals(xs[i] + ys[i], sums[i], "pair " + i);
            }
            assertEquals(pairs - answeredFirst, readBySecond.get(), "the second connection got the unanswered pairs only");
            assertEquals(7, client.add(3, 4), "and the connection serves the next call");
        }
    }

    @Test
    void closeDuringReplaysCompletesEveryFutureAndLeavesNoThread() throws Exception {
        AdderServer gone = started(AdderAddress.tcp("127.0.0.1", 0));
        AdderClient client = AdderClient.builder(gone.addresses().get(0)).connectTimeout(Duration.ofSeconds(30)).connect();
        gone.close();
        List<CompletableFuture<Long>> calls = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            calls.add(client.addAsync(i, i));
        }
        // the client's thread tries to connect again and again for them: none has failed
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(20))
                .until(() -> calls.stream().noneMatch(CompletableFuture::isDone));
        client.close();
        await().atMost(Duration.ofSeconds(10)).until(() -> calls.stream().allMatch(CompletableFuture::isDone));
        for (CompletableFuture<Long> call : calls) {
            ExecutionException e = assertThrows(ExecutionException.class, call::get);
            assertTrue(e.getCause().getMessage().contains("was closed"), e.getCause().getMessage());
        }
        assertEquals(0, threads("adder-client-"), "a thread of the client outlived close()");
    }

    @Test
    void closeEndsAConnectThatTheServerNeverCompletes() throws Exception {
        AdderServer first = started(AdderAddress.tcp("127.0.0.1", 0));
        AdderAddress address = first.addresses().get(0);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        List<SocketChannel> queued = new ArrayList<>();
        AdderClient client = AdderClient.builder(address).connectTimeout(Duration.ofSeconds(60))
                .callTimeout(Duration.ofSeconds(120)).connect();
        try (ServerSocketChannel deaf = ServerSocketChannel.open()) {
            assertEquals(3, client.add(1, 2));
            first.close();
            // a listener that never accepts, its queue full (a backlog of 1 holds two): further SYNs are dropped,
            // so a connect neither completes nor fails until its timeout
            deaf.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            deaf.bind(new InetSocketAddress("127.0.0.1", address.port()), 1);
            for (int i = 0; i < 2; i++) {
                queued.add(SocketChannel.open(deaf.getLocalAddress()));
            }
            Future<Long> call = pool.submit(() -> client.add(7, 10));
            await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5)).until(() -> !call.isDone());
            client.close();
            await("the call ends at close, not at the 60 s connect timeout").atMost(Duration.ofSeconds(10))
                    .until(call::isDone);
            ExecutionException e = assertThrows(ExecutionException.class, call::get);
            assertTrue(e.getCause().getMessage().contains("closed"), e.getCause().toString());
        } finally {
            client.close();
            pool.shutdownNow();
            for (SocketChannel channel : queued) {
                channel.close();
            }
        }
    }

    @Test
    void withReplayOffALostConnectionFailsItsCalls() throws Exception {
        try (ScriptedServer server = new ScriptedServer(Transport.UNIX, dir, (n, channel) -> {
            ScriptedServer.readRequests(channel, 1);
            channel.close();
        });
             AdderClient client = AdderClient.builder(server.address()).replay(false).connect()) {
            AdderException e = assertThrows(AdderException.class, () -> client.add(1, 2));
            assertEquals("the server closed the connection to " + server.address() + " with calls in flight",
                    e.getMessage());
            assertEquals(1, server.connections.get());
            assertEquals(0, client.replayedCalls());
        }
    }

    /** A server listening on {@code listen}, started. */
    private static AdderServer started(AdderAddress listen) throws IOException {
        AdderServer server = AdderServer.builder().listen(listen).build();
        server.start();
        return server;
    }

    private static long threads(String prefix) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(thread -> thread.getName().startsWith(prefix) && thread.isAlive()).count();
    }
}
