package dev.adder.client;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.server.AdderServer;
import dev.adder.testing.Transport;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The call observer is told of every call's end once, with its failure's kind; stats() sees replays. */
@Timeout(60)
class CallObserverTest {

    @TempDir
    Path dir;

    private record Ended(long nanos, AdderException failure) {
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void everyCallIsToldOnceAndAThrowingObserverChangesNoCall(Transport transport) throws Exception {
        List<Ended> ended = new CopyOnWriteArrayList<>();
        try (AdderServer server = transport.startServer(dir)) {
            AdderClient client = AdderClient.builder(server.addresses().get(0)).callObserver((nanos, failure) -> {
                ended.add(new Ended(nanos, failure));
                throw new IllegalStateException("the observer's own fault");
            }).connect();
            assertEquals(17, client.add(7, 10));
            assertEquals(3L, client.addAsync(1, 2).join());
            assertEquals(2, client.addAll(new long[] {1, 2}, new long[] {3, 4}).length);
            await().until(() -> ended.size() == 3);
            for (Ended e : ended) {
                assertNull(e.failure);
                assertTrue(e.nanos > 0, "nanos " + e.nanos);
            }
            assertEquals(new ClientStats(0, 0), client.stats());
            client.close();
            assertThrows(IllegalStateException.class, () -> client.add(1, 1)); // refused at once: not a call
            assertEquals(3, ended.size());
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aLostConnectionIsOfKindLostAndTheCallersCopyKeepsIt(Transport transport) throws Exception {
        List<AdderException> failures = new CopyOnWriteArrayList<>();
        try (ScriptedServer server = new ScriptedServer(transport, dir, (n, channel) -> {
            ScriptedServer.readRequests(channel, 1);
            channel.close();
        }); AdderClient client = AdderClient.builder(server.address()).replay(false)
                .callObserver((nanos, failure) -> failures.add(failure)).connect()) {
            AdderException thrown = assertThrows(AdderException.class, () -> client.add(1, 2));
            assertEquals(FailureKind.LOST, thrown.kind());
            assertEquals(1, failures.size());
            assertSame(thrown, failures.get(0));
            assertEquals(FailureKind.LOST, ((AdderException) thrown.getCause()).kind());
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aReplayIsSeenInStats(Transport transport) throws Exception {
        try (ScriptedServer server = new ScriptedServer(transport, dir, (n, channel) -> {
            if (n == 0) {
                ScriptedServer.readRequests(channel, 1);
                channel.close();
            } else {
                ScriptedServer.serveCorrectly(channel);
            }
        }); AdderClient client = AdderClient.builder(server.address()).connect()) {
            assertEquals(3, client.add(1, 2));
            assertEquals(new ClientStats(0, 1), client.stats());
        }
    }
}
