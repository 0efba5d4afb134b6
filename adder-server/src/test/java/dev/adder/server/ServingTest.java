package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.CheckedSums;
import dev.adder.testing.TransportWithTls;
import java.io.IOException;
import java.nio.ByteBuffer;
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

@Timeout(120)
class ServingTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void teachingClientSequenceGetsSeventeen(TransportWithTls transport) throws IOException {
        try (AdderServer server = transport.startServer(dir);
             RawClient client = RawClient.connect(server.addresses().get(0))) {
            // x and y in two separate 8-byte writes, then one 8-byte read, as the Python client does
            ByteBuffer x = ByteBuffer.allocate(8).order(Protocol.BYTE_ORDER).putLong(0, 7);
            ByteBuffer y = ByteBuffer.allocate(8).order(Protocol.BYTE_ORDER).putLong(0, 10);
            client.write(x.array());
            client.write(y.array());
            assertEquals(17, client.read());
        }
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void protocolVectorsAreAnsweredOverTheWire(TransportWithTls transport) throws IOException {
        long[][] vectors = {
            {7, 10, 17}, {0, 0, 0}, {-1, 1, 0}, {-5, -7, -12},
            {Long.MAX_VALUE, 1, Long.MIN_VALUE}, {Long.MIN_VALUE, -1, Long.MAX_VALUE},
            {Long.MAX_VALUE, Long.MAX_VALUE, -2}, {123456789012345L, -98765432109876L, 24691356902469L},
            {72623859790382856L, 0, 72623859790382856L},
        };
        try (AdderServer server = transport.startServer(dir);
             RawClient client = RawClient.connect(server.addresses().get(0))) {
            for (long[] vector : vectors) {
                assertEquals(vector[2], client.add(vector[0], vector[1]));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void requestsSentOneByteAtATimeAreAnswered(TransportWithTls transport) throws IOException {
        try (AdderServer server = transport.startServer(dir);
             RawClient client = RawClient.connect(server.addresses().get(0))) {
            for (long i = 0; i < 20; i++) {
                byte[] request = RawClient.request(i * 1_000_003, -i);
                for (int b = 0; b < request.length; b++) {
                    client.write(request, b, 1);
                }
                assertEquals(i * 1_000_003 - i, client.read());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void manyRequestsInOneWriteAreAllAnswered(TransportWithTls transport) throws IOException {
        int count = 5_000;
        long[] xs = new long[count];
        long[] ys = new long[count];
        for (int i = 0; i < count; i++) {
            xs[i] = i;
            ys[i] = 3L * i;
        }
        try (AdderServer server = transport.startServer(dir);
             RawClient client = RawClient.connect(server.addresses().get(0))) {
            client.write(RawClient.requests(xs, ys));
            for (int i = 0; i < count; i++) {
                assertEquals(4L * i, client.read(), "answer " + i);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void aMillionPipelinedRequestsOnOneConnectionAreAnsweredInOrder(TransportWithTls transport) throws Exception {
        int count = 1_000_000;
        int perWrite = 4096;
        ExecutorService writer = Executors.newSingleThreadExecutor();
        try (AdderServer server = transport.startServer(dir);
             RawClient client = RawClient.connect(server.addresses().get(0))) {
            // the writer never waits for answers: the reader below drains them meanwhile
            Future<?> written = writer.submit(() -> {
                ByteBuffer batch = ByteBuffer.allocate(perWrite * Protocol.REQUEST_BYTES);
                for (int i = 0; i < count; i += perWrite) {
                    batch.clear();
                    for (int j = i; j < i + perWrite && j < count; j++) {
                        Protocol.encodeRequest(batch, j, (long) j << 20);
                    }
                    batch.flip();
                    while (batch.hasRemaining()) {
                        client.channel.write(batch);
                    }
                }
                return null;
            });
            ByteBuffer answers = ByteBuffer.allocate(64 * 1024).order(Protocol.BYTE_ORDER);
            int received = 0;
            while (received < count) {
                if (client.channel.read(answers) < 0) {
                    break;
                }
                answers.flip();
                while (answers.remaining() >= Protocol.RESPONSE_BYTES) {
                    long expected = received + ((long) received << 20);
                    long answer = Protocol.decodeResponse(answers);
                    if (answer != expected) {
                        assertEquals(expected, answer, "answer " + received);
                    }
                    received++;
                }
                answers.compact();
            }
            written.get();
            assertEquals(count, received);
            assertEquals(count, server.stats().requests());
        } finally {
            writer.shutdownNow();
        }
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void fiveHundredConcurrentClientsEachGetTheirOwnAnswers(TransportWithTls transport) throws Exception {
        int clients = 500;
        int requestsEach = 50;
        try (AdderServer server = transport.startServer(dir)) {
            AdderAddress address = server.addresses().get(0);
            List<RawClient> connected = new ArrayList<>();
            try {
                for (int c = 0; c < clients; c++) {
                    connected.add(RawClient.connect(address));
                }
                ExecutorService pool = Executors.newFixedThreadPool(32);
                try {
                    CheckedSums.assertAllRight(pool, clients, requestsEach, c -> connected.get(c)::add);
                } finally {
                    pool.shutdownNow();
                }
                assertEquals(clients, server.stats().openConnections());
                assertEquals((long) clients * requestsEach, server.stats().requests());
            } finally {
                for (RawClient client : connected) {
                    client.close();
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void pipeliningClientDoesNotStarveAPingPongClient(TransportWithTls transport) throws Exception {
        ExecutorService pipeline = Executors.newFixedThreadPool(2);
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        try (AdderServer server = transport.startServer(dir);
             RawClient pipeliner = RawClient.connect(server.addresses().get(0));
             RawClient pingPong = RawClient.connect(server.addresses().get(0))) {
            // the pipeliner writes and reads without pause until the ping-pong client is done
            pipeline.submit(() -> {
                ByteBuffer batch = ByteBuffer.allocate(4096 * Protocol.REQUEST_BYTES);
                while (!stop.get()) {
                    batch.clear();
                    while (batch.hasRemaining()) {
                        Protocol.encodeRequest(batch, 1, 2);
                    }
                    batch.flip();
                    while (batch.hasRemaining()) {
                        pipeliner.channel.write(batch);
                    }
                }
                return null;
            });
            pipeline.submit(() -> {
                ByteBuffer answers = ByteBuffer.allocate(64 * 1024);
                while (pipeliner.channel.read(answers) >= 0) {
                    answers.clear();
                }
                return null;
            });
            long before = server.stats().requests();
            long[] pings = {0};
            // ping-pong, each answer checked, until the pipeliner was served meanwhile too (far more requests
            // than the ping-pong client's) and at least 2,000 pings: a count of its own, not a race between the
            // two clients' threads, which over TLS on a loaded machine the pipeliner could lose
            await("the pipelining client's progress beside the ping-pong client").atMost(Duration.ofMinutes(2))
                    .pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1)).until(() -> {
                        for (int k = 0; k < 100; k++, pings[0]++) {
                            assertEquals(2L * pings[0] + 1, pingPong.add(pings[0], pings[0] + 1));
                        }
                        return pings[0] >= 2_000 && server.stats().requests() - before - pings[0] > 100_000;
                    });
        } finally {
            stop.set(true);
            pipeline.shutdownNow();
        }
    }

    @Test
    void oneLoopServesUnixAndTcpListenersAtOnce() throws IOException {
        try (AdderServer server = AdderServer.builder()
                .listen(AdderAddress.unix(dir.resolve("both.sock")))
                .listen("tcp:127.0.0.1:0")
                .build()) {
            server.start();
            assertEquals(2, server.addresses().size());
            try (RawClient unix = RawClient.connect(server.addresses().get(0));
                 RawClient tcp = RawClient.connect(server.addresses().get(1))) {
                assertEquals(3, unix.add(1, 2));
                assertEquals(7, tcp.add(3, 4));
            }
            assertEquals(2, server.stats().accepted());
        }
    }

    @Test
    void tcpPortZeroReportsTheRealPort() throws IOException {
        try (AdderServer server = AdderServer.builder().listen("tcp:127.0.0.1:0").build()) {
            server.start();
            AdderAddress bound = server.addresses().get(0);
            assertEquals("127.0.0.1", bound.host());
            assertNotEquals(0, bound.port());
            try (RawClient client = RawClient.connect(AdderAddress.parse("tcp:127.0.0.1:" + bound.port()))) {
                assertEquals(17, client.add(7, 10));
            }
        }
    }

    @Test
    void ipv6LoopbackIsServed() throws IOException {
        try (AdderServer server = AdderServer.builder().listen("tcp:[::1]:0").build()) {
            server.start();
            assertTrue(server.addresses().get(0).toString().startsWith("tcp:[::1]:"));
            try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                assertEquals(-12, client.add(-5, -7));
            }
        }
    }
}
