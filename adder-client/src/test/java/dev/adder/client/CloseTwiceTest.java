package dev.adder.client;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.server.AdderServer;
import dev.adder.testing.Transport;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * close() stops the client's thread and waits for it, whichever of two
 * concurrent close() calls comes second: a caller whose close() has returned
 * may count on no thread of the client being left (before, only the first
 * close() waited; the second returned at once).
 */
@Timeout(60)
class CloseTwiceTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Transport.class)
    void aSecondCloseWhileTheFirstWaitsAlsoReturnsOnlyOnceTheClientsThreadHasEnded(Transport transport) throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicReference<Thread> clientThread = new AtomicReference<>();
        try (AdderServer server = transport.startServer(dir)) {
            AdderClient client = AdderClient.builder(server.addresses().get(0)).completionExecutor(Runnable::run).connect();
            // a direct executor runs the completion on the client's thread, which this holds there
            CompletableFuture<Long> held = client.addAsync(1, 2).whenComplete((sum, error) -> {
                clientThread.set(Thread.currentThread());
                awaitQuietly(release);
            });
            await().atMost(Duration.ofSeconds(30)).until(() -> clientThread.get() != null);
            Thread first = new Thread(client::close, "first close");
            first.start();
            await().atMost(Duration.ofSeconds(30)).until(() -> first.getState() == Thread.State.TIMED_WAITING);
            AtomicBoolean aliveWhenSecondReturned = new AtomicBoolean();
            Thread second = new Thread(() -> {
                client.close();
                aliveWhenSecondReturned.set(clientThread.get().isAlive());
            }, "second close");
            second.start();
            // the second close() waits too, or has already returned (as it did before)
            await().atMost(Duration.ofSeconds(30)).until(() -> second.getState() == Thread.State.TIMED_WAITING
                    || second.getState() == Thread.State.TERMINATED);
            release.countDown();
            first.join(TimeUnit.SECONDS.toMillis(30));
            second.join(TimeUnit.SECONDS.toMillis(30));
            assertFalse(first.isAlive() || second.isAlive(), "both close() calls returned");
            assertFalse(aliveWhenSecondReturned.get(), "the client's thread had ended when the second close() returned");
            assertFalse(clientThread.get().isAlive());
            assertEquals(3, held.get(30, TimeUnit.SECONDS));
            assertTrue(held.isDone());
        }
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
