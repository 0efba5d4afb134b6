package dev.adder.micrometer;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.client.AdderClient;
import dev.adder.core.Protocol;
import dev.adder.server.AdderServer;
import dev.adder.testing.Transport;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The server's meters follow its statistics, over both socket kinds. */
@Timeout(60)
class AdderServerMetricsTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Transport.class)
    void theMetersFollowTheServersTraffic(Transport transport) throws Exception {
        AdderServer server = AdderServer.builder().listen(transport.listenAddress(dir)).maxConnections(1).build();
        try {
            server.start();
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            new AdderServerMetrics(server, Tags.of("name", "test")).bindTo(registry);
            String address = server.addresses().get(0).toString();
            for (Meter meter : registry.getMeters()) {
                assertTrue(meter.getId().getName().startsWith("adder.server."), meter.getId().getName());
                assertEquals(address, meter.getId().getTag("address"));
                assertEquals("test", meter.getId().getTag("name"));
            }
            assertEquals(1, registry.get("adder.server.running").gauge().value());
            assertEquals(0, registry.get("adder.server.requests").functionCounter().count());

            try (AdderClient client = AdderClient.connect(address)) {
                assertEquals(17, client.add(7, 10));
                assertEquals(3, client.add(1, 2));
                assertEquals(-1, client.add(Long.MAX_VALUE, Long.MIN_VALUE));
                await().until(() -> registry.get("adder.server.requests").functionCounter().count() == 3);
                assertEquals(1, registry.get("adder.server.connections.accepted").functionCounter().count());
                assertEquals(1, registry.get("adder.server.connections.open").gauge().value());
                assertEquals(3 * Protocol.REQUEST_BYTES, registry.get("adder.server.bytes.read").functionCounter().count());
                await().until(() -> registry.get("adder.server.bytes.written").functionCounter().count()
                        == 3 * Protocol.RESPONSE_BYTES);
                assertEquals(0, registry.get("adder.server.pending.output").gauge().value());
                await().until(() -> registry.get("adder.server.loop.busy").functionCounter().count() > 0);
                assertEquals("seconds", registry.get("adder.server.loop.busy").functionCounter().getId().getBaseUnit());
                double share = registry.get("adder.server.loop.busy.share").gauge().value();
                assertTrue(share >= 0 && share <= 1, "busy share " + share);
                assertTrue(registry.get("adder.server.loop.longest.turn").timeGauge().value(TimeUnit.NANOSECONDS) >= 0);

                // a second connection, over maxConnections(1): refused
                try (SocketChannel refused = SocketChannel.open(server.addresses().get(0).toSocketAddress())) {
                    assertTrue(refused.isConnected());
                    await().until(() -> registry.get("adder.server.connections.refused").functionCounter().count() == 1);
                }
            }
            await().until(() -> registry.get("adder.server.connections.open").gauge().value() == 0);
            server.close();
            assertEquals(0, registry.get("adder.server.running").gauge().value());
        } finally {
            server.close();
        }
    }

    @Test
    void aServerNotStartedCannotBeBound() {
        AdderServer server = AdderServer.builder().listen(Transport.TCP.listenAddress(dir)).build();
        assertThrows(IllegalStateException.class, () -> new AdderServerMetrics(server).bindTo(new SimpleMeterRegistry()));
    }
}
