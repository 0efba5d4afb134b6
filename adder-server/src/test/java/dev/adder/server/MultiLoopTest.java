package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.Transport;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** A server of four loops: the spread of connections, the limits across loops, the stop, a loop's failure. */
@Timeout(120)
class MultiLoopTest {

    private static final int LOOPS = 4;

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Transport.class)
    void fourHundredConnectionsSpreadEvenlyAndAreEachServedByOneLoop(Transport transport) throws Exception {
        try (AdderServer server = AdderServer.builder().listen(transport.listenAddress(dir)).loops(LOOPS).build()) {
            server.start();
            assertEquals(LOOPS, server.currentLoops().size());
            List<RawClient> clients = new ArrayList<>();
            try {
                for (int i = 0; i < 400; i++) {
                    RawClient client = RawClient.connect(server.addresses().get(0));
                    clients.add(client);
                    assertEquals(i + 1L, client.add(i, 1));
                }
                for (EventLoop loop : server.currentLoops()) {
                    long open = loop.counters().snapshot().openConnections();
                    assertTrue(open >= 90 && open <= 110, "a loop holds " + open + " of 400 connections");
                }
                assertEquals(400, server.stats().openConnections());
                assertEquals(400, server.stats().requests());
                // every connection keeps being answered by its loop
                for (int i = 0; i < clients.size(); i++) {
                    assertEquals(2L * i, clients.get(i).add(i, i));
                }
            } finally {
                for (RawClient client : clients) {
                    client.close();
                }
            }
            await().until(() -> server.stats().openConnections() == 0);
            assertEquals(400, server.stats().accepted());
            assertEquals(800, server.stats().requests());
        }
    }

    @Test
    void theConnectionLimitCountsEveryLoop() throws Exception {
        try (AdderServer server = AdderServer.builder().listen(Transport.TCP.listenAddress(dir)).loops(LOOPS)
                .maxConnections(10).build()) {
            server.start();
            AdderAddress address = server.addresses().get(0);
            List<RawClient> clients = new ArrayList<>();
            try {
                for (int i = 0; i < 10; i++) {
                    clients.add(RawClient.connect(address));
                    assertEquals(i, clients.get(i).add(i, 0));
                }
                try (RawClient refused = RawClient.connect(address)) {
                    assertTrue(refused.readsEndOfStream(), "an eleventh connection was served");
                }
                await().until(() -> server.stats().refused() == 1);
                clients.remove(0).close();
                await().until(() -> server.stats().openConnections() == 9);
                try (RawClient again = RawClient.connect(address)) {
                    assertEquals(5, again.add(2, 3), "a place freed on one loop serves a new connection");
                }
            } finally {
                for (RawClient client : clients) {
                    client.close();
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void closeUnderPipelinedLoadAnswersEverythingEveryLoopReceived(Transport transport) throws Exception {
        AdderServer server = AdderServer.builder().listen(transport.listenAddress(dir)).loops(LOOPS).build();
        server.start();
        AdderAddress address = server.addresses().get(0);
        int clients = 16;
        int batch = 4096;
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        try {
            List<RawClient> connected = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                connected.add(RawClient.connect(address));
            }
            List<Future<long[]>> results = new ArrayList<>();
            for (RawClient client : connected) {
                // each client writes batches until the stop shuts its input, reading every answer: sent vs answered
                results.add(pool.submit(() -> pipelineUntilStopped(client, batch)));
            }
            await().until(() -> server.stats().requests() > 100_000);
            server.close();
            long answeredTotal = 0;
            for (Future<long[]> result : results) {
                long[] sentAndAnswered = result.get();
                assertTrue(sentAndAnswered[1] > 0);
                answeredTotal += sentAndAnswered[1];
            }
            // every request the loops read was answered, and every answer reached its client
            assertEquals(server.stats().requests(), answeredTotal);
            for (EventLoop loop : server.currentLoops()) {
                assertTrue(loop.counters().snapshot().requests() > 0, "a loop served nothing");
                assertFalse(loop.isRunning());
            }
            if (transport == Transport.UNIX) {
                assertFalse(Files.exists(dir.resolve("adder.sock"), LinkOption.NOFOLLOW_LINKS));
            }
        } finally {
            pool.shutdownNow();
            server.close();
        }
    }

    /** Pipelines (i, 1) in batches and checks every answer in order until the server ends the stream. */
    private static long[] pipelineUntilStopped(RawClient client, int batch) throws IOException {
        long sent = 0;
        long answered = 0;
        ByteBuffer requests = ByteBuffer.allocate(batch * Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
        try {
            while (true) {
                requests.clear();
                for (int i = 0; i < batch; i++) {
                    Protocol.encodeRequest(requests, sent + i, 1);
                }
                client.write(requests.array());
                sent += batch;
                for (int i = 0; i < batch; i++) {
                    long answer = client.read();
                    assertEquals(answered + 1, answer, "answer " + answered);
                    answered++;
                }
            }
        } catch (IOException endOfStream) {
            // the server stopped: what was answered before is the count
        }
        return new long[] {sent, answered};
    }

    @Test
    void aLoopThatFailsStopsTheWholeServerVisibly() throws Exception {
        AdderServer server = AdderServer.builder().listen(Transport.UNIX.listenAddress(dir)).loops(LOOPS).build();
        server.start();
        List<RawClient> clients = new ArrayList<>();
        for (int i = 0; i < LOOPS; i++) {
            clients.add(RawClient.connect(server.addresses().get(0)));
            assertEquals(i + 1L, clients.get(i).add(i, 1));
        }
        OutOfMemoryError error = new OutOfMemoryError("simulated, on the third loop");
        server.currentLoops().get(2).execute(() -> {
            throw error;
        });
        await().atMost(Duration.ofSeconds(10)).until(() -> server.currentLoops().stream().noneMatch(EventLoop::isRunning));
        assertFalse(server.isRunning());
        assertSame(error, server.failure().orElseThrow());
        for (RawClient client : clients) {
            assertTrue(client.readsEndOfStream(), "a connection stayed open after a loop failed");
            client.close();
        }
        assertFalse(Files.exists(dir.resolve("adder.sock"), LinkOption.NOFOLLOW_LINKS), "the socket file stayed");
        server.close();
    }
}
