package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.TransportWithTls;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

@Timeout(120)
class LifecycleTest {

    @TempDir
    Path dir;

    /** A client that pipelines without pause and checks every answer until the server closes. */
    private static final class PipeliningClient {
        final RawClient raw;
        final int id;
        final AtomicLong received = new AtomicLong();
        volatile String wrongAnswer;

        PipeliningClient(RawClient raw, int id) {
            this.raw = raw;
            this.id = id;
        }

        Void write() {
            ByteBuffer batch = ByteBuffer.allocate(256 * Protocol.REQUEST_BYTES);
            long next = 0;
            try {
                while (true) {
                    batch.clear();
                    for (int i = 0; i < 256; i++) {
                        Protocol.encodeRequest(batch, next++, id);
                    }
                    batch.flip();
                    while (batch.hasRemaining()) {
                        raw.channel.write(batch);
                    }
                }
            } catch (IOException expected) {
                return null; // the server stopped, or the reader closed the socket after end of stream
            }
        }

        /** Reads and checks answers until end of stream; returns how many. */
        Long read() throws IOException {
            ByteBuffer answers = ByteBuffer.allocate(64 * 1024).order(Protocol.BYTE_ORDER);
            long count = 0;
            try {
                while (raw.channel.read(answers) >= 0) {
                    answers.flip();
                    while (answers.remaining() >= Protocol.RESPONSE_BYTES) {
                        long answer = Protocol.decodeResponse(answers);
                        if (answer != count + id && wrongAnswer == null) {
                            wrongAnswer = "client " + id + " answer " + count + " was " + answer;
                        }
                        count++;
                    }
                    received.set(count);
                    answers.compact();
                }
                assertEquals(0, answers.position(), "a partial answer at end of stream");
                return count;
            } finally {
                raw.close();
            }
        }
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void closeWhileFiftyClientsPipelineAnswersEveryRequestReceived(TransportWithTls transport) throws Exception {
        String threadName = "adder-loop-close-test-" + transport;
        AdderServer server = transport.builder(dir).threadName(threadName).build();
        server.start();
        AdderAddress address = server.addresses().get(0);
        int clients = 50;
        ExecutorService pool = Executors.newFixedThreadPool(2 * clients);
        try {
            List<PipeliningClient> pipelining = new ArrayList<>();
            List<Future<Long>> reads = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                PipeliningClient client = new PipeliningClient(RawClient.connect(address), c);
                pipelining.add(client);
                pool.submit(client::write);
                reads.add(pool.submit(client::read));
            }
            await().until(() -> pipelining.stream().allMatch(c -> c.received.get() >= 1000));

            server.close();

            long answered = 0;
            for (Future<Long> read : reads) {
                answered += read.get();
            }
            for (PipeliningClient client : pipelining) {
                assertNull(client.wrongAnswer);
            }
            // every request the server took in was answered and reached its client
            assertEquals(server.stats().requests(), answered);
            assertEquals(0, server.stats().openConnections());
            assertFalse(server.isRunning());
            assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().equals(threadName)),
                    "the loop thread is still alive");
            if (transport == TransportWithTls.UNIX) {
                assertFalse(Files.exists(address.unixPath(), LinkOption.NOFOLLOW_LINKS));
            }
            server.close(); // a second close is a no-op
            assertFalse(server.isRunning());
        } finally {
            pool.shutdownNow();
            server.close();
        }
    }

    @ParameterizedTest
    @EnumSource(TransportWithTls.class)
    void closeWithIdleClientsReturnsAndTheyReadEndOfStream(TransportWithTls transport) throws IOException {
        AdderServer server = transport.startServer(dir);
        try (RawClient idle = RawClient.connect(server.addresses().get(0))) {
            assertEquals(17, idle.add(7, 10));
            server.close();
            assertTrue(idle.readsEndOfStream());
        }
    }

    @Test
    void closeFromAnotherThreadWhileAnotherCloses() throws Exception {
        AdderServer server = AdderServer.builder().listen(AdderAddress.unix(dir.resolve("a.sock"))).build();
        server.start();
        Thread other = new Thread(server::close);
        other.start();
        server.close();
        other.join();
        assertFalse(server.isRunning());
        assertFalse(Files.exists(dir.resolve("a.sock"), LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void interruptingTheLoopThreadStopsTheServerGracefully() throws IOException {
        String threadName = "adder-loop-interrupt-test";
        Path socket = dir.resolve("i.sock");
        try (AdderServer server = AdderServer.builder().listen(AdderAddress.unix(socket)).threadName(threadName).build()) {
            server.start();
            try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                assertEquals(17, client.add(7, 10));
                Thread loop = Thread.getAllStackTraces().keySet().stream()
                        .filter(t -> t.getName().equals(threadName)).findFirst().orElseThrow();
                loop.interrupt();
                await().until(() -> !server.isRunning());
                assertTrue(client.readsEndOfStream());
            }
            assertTrue(server.failure().isEmpty(), "an interrupt is a stop, not a failure");
            assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS));
        }
    }

    @Test
    void startTwiceOrAfterCloseIsAnError() throws IOException {
        AdderServer server = AdderServer.builder().listen("tcp:127.0.0.1:0").build();
        server.start();
        assertEquals("server is already started",
                assertThrows(IllegalStateException.class, server::start).getMessage());
        server.close();
        assertEquals("server is closed", assertThrows(IllegalStateException.class, server::start).getMessage());
    }

    @Test
    void closeBeforeStartIsHarmless() {
        AdderServer server = AdderServer.builder().listen("tcp:127.0.0.1:0").build();
        server.close();
        assertFalse(server.isRunning());
        assertTrue(server.addresses().isEmpty());
    }

    @Test
    void builderWithoutAddressSaysWhatIsMissing() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> AdderServer.builder().build());
        assertTrue(e.getMessage().startsWith("no listen address"), e.getMessage());
    }

    @Test
    void tcpBindToAPortInUseFailsFromStart() throws IOException {
        try (AdderServer first = AdderServer.builder().listen("tcp:127.0.0.1:0").build()) {
            first.start();
            int port = first.addresses().get(0).port();
            AdderServer second = AdderServer.builder().listen("tcp:127.0.0.1:" + port).build();
            IOException e = assertThrows(IOException.class, second::start);
            assertTrue(e.getMessage().startsWith("cannot listen on tcp:127.0.0.1:" + port + ": "), e.getMessage());
            assertFalse(second.isRunning());
        }
    }

    @Test
    void statisticsAreAnMBeanWhileTheServerRuns() throws Exception {
        MBeanServer platform = ManagementFactory.getPlatformMBeanServer();
        ObjectName pattern = new ObjectName("dev.adder:type=AdderServer,*");
        try (AdderServer server = AdderServer.builder().listen("tcp:127.0.0.1:0").registerMBean(true).build()) {
            server.start();
            try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                assertEquals(17, client.add(7, 10));
                assertEquals(3, client.add(1, 2));
            }
            // the name the README documents, the same at every start
            ObjectName name = new ObjectName("dev.adder:type=AdderServer");
            assertEquals(Set.of(name), platform.queryNames(pattern, null));
            assertEquals(Optional.of(name), server.jmxName());
            // the loop counts bytes written just after the write, so a client may read its answer first
            await().until(() -> platform.getAttribute(name, "BytesWritten").equals(16L));
            assertEquals(2L, platform.getAttribute(name, "Requests"));
            assertEquals(1L, platform.getAttribute(name, "AcceptedConnections"));
            assertEquals(32L, platform.getAttribute(name, "BytesRead"));
            assertEquals(true, platform.getAttribute(name, "Running"));
        }
        assertTrue(platform.queryNames(pattern, null).isEmpty());
    }

    @Test
    void registerMBeanRegistersARunningServerOnceAndCloseUnregistersIt() throws Exception {
        MBeanServer platform = ManagementFactory.getPlatformMBeanServer();
        ObjectName name = new ObjectName("dev.adder:type=AdderServer,name=later");
        AdderServer server = AdderServer.builder().listen("tcp:127.0.0.1:0").jmxName(name.toString()).build();
        assertEquals("server is not started", assertThrows(IllegalStateException.class, server::registerMBean).getMessage());
        try (server) {
            server.start();
            assertEquals(Optional.empty(), server.jmxName());
            assertFalse(platform.isRegistered(name), "not asked for at start");
            assertEquals(Optional.of(name), server.registerMBean());
            assertEquals(Optional.of(name), server.registerMBean(), "a second call keeps the registration");
            assertEquals(Optional.of(name), server.jmxName());
            try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                assertEquals(3, client.add(1, 2));
            }
            assertEquals(1L, platform.getAttribute(name, "Requests"));
        }
        assertFalse(platform.isRegistered(name));
        assertEquals(Optional.empty(), server.registerMBean(), "a closed server is not registered again");
        assertFalse(platform.isRegistered(name));
    }

    @Test
    void eachServerOfAJvmCanHaveItsOwnJmxNameAndATakenNameIsNotTakenOver() throws Exception {
        MBeanServer platform = ManagementFactory.getPlatformMBeanServer();
        ObjectName orders = new ObjectName("dev.adder:type=AdderServer,name=orders");
        try (AdderServer first = AdderServer.builder().listen("tcp:127.0.0.1:0").registerMBean(true).build();
                AdderServer second = AdderServer.builder().listen("tcp:127.0.0.1:0").registerMBean(true)
                        .jmxName("dev.adder:type=AdderServer,name=orders").build()) {
            first.start();
            second.start();
            assertEquals(Optional.of(orders), second.jmxName());
            assertEquals(Optional.of(new ObjectName(AdderServer.DEFAULT_JMX_NAME)), first.jmxName());
            try (AdderServer third = AdderServer.builder().listen("tcp:127.0.0.1:0").registerMBean(true).build()) {
                third.start();
                assertEquals(Optional.empty(), third.jmxName(), "the default name was the first server's");
                assertTrue(third.isRunning());
            }
            assertTrue(platform.isRegistered(new ObjectName(AdderServer.DEFAULT_JMX_NAME)),
                    "closing the server without a name leaves the first one's");
            try (RawClient client = RawClient.connect(second.addresses().get(0))) {
                assertEquals(3, client.add(1, 2));
            }
            assertEquals(1L, platform.getAttribute(orders, "Requests"));
        }
        assertFalse(platform.isRegistered(orders));
    }

    @Test
    void aJmxNameMustBeOneValidName() {
        AdderServer.Builder builder = AdderServer.builder();
        IllegalArgumentException malformed = assertThrows(IllegalArgumentException.class, () -> builder.jmxName("orders"));
        assertTrue(malformed.getMessage().startsWith("jmxName is not a JMX object name (domain:key=value,...): orders"),
                malformed.getMessage());
        assertEquals("jmxName must name one MBean, not a pattern: dev.adder:*",
                assertThrows(IllegalArgumentException.class, () -> builder.jmxName("dev.adder:*")).getMessage());
    }

    @Test
    void statisticsAddUp() throws IOException {
        try (AdderServer server = AdderServer.builder().listen("tcp:127.0.0.1:0").build()) {
            server.start();
            try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                for (int i = 0; i < 10; i++) {
                    assertEquals(2L * i, client.add(i, i));
                }
            }
            await().until(() -> server.stats().openConnections() == 0);
            ServerStats stats = server.stats();
            assertEquals(List.of(0L, 1L, 0L, 10L, 160L, 80L, 0L), List.of(stats.openConnections(), stats.accepted(),
                    stats.refused(), stats.requests(), stats.bytesRead(), stats.bytesWritten(), stats.pendingOutput()));
        }
    }
}
