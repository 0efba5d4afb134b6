package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The loop's working share, its longest turn and the slow-turn warning: with a clock the test advances, then in a server. */
class LoopHealthTest {

    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

    private final LoopStats stats = new LoopStats();
    private final Logger logger = (Logger) LoggerFactory.getLogger(LoopHealth.class);
    private final ListAppender<ILoggingEvent> lines = new ListAppender<>();

    @BeforeEach
    void captureWarnings() {
        lines.start();
        logger.addAppender(lines);
    }

    @AfterEach
    void stopCapturing() {
        logger.detachAppender(lines);
    }

    private List<String> warnings() {
        return lines.list.stream().filter(e -> e.getLevel() == Level.WARN).map(ILoggingEvent::getFormattedMessage).toList();
    }

    @Test
    void theShareOfAWindowSpentWorkingAndTheLongestTurnOfTheLastTwoWindows() {
        long now = 5_000_000_000L;
        LoopHealth health = new LoopHealth(stats, Duration.ofMillis(100), now);
        // a first window: 2 ms of work in every 8 ms, with one turn of 30 ms
        long end = now + LoopHealth.WINDOW_NANOS;
        health.worked(30 * MS, now += 30 * MS);
        while (now < end) {
            now += 6 * MS;
            health.worked(2 * MS, now += 2 * MS);
        }
        assertEquals(30 * MS, stats.longestTurnNanos.get());
        assertEquals(0.25, stats.busyPermyriad.get() / 10_000.0, 0.01);
        // the next window: the 30 ms turn stays the longest of the last two windows until this one ends
        health.worked(MS, now += MS);
        assertEquals(30 * MS, stats.longestTurnNanos.get(), "the last window's longest turn");
        health.tick(now += LoopHealth.WINDOW_NANOS);
        assertEquals(MS, stats.longestTurnNanos.get());
        assertEquals(0, stats.busyPermyriad.get(), "1 ms in 10 s rounds down to 0");
        // a quiet window, then nothing left
        health.tick(now += LoopHealth.WINDOW_NANOS);
        assertEquals(0, stats.longestTurnNanos.get());
        assertTrue(warnings().isEmpty(), warnings().toString());
    }

    @Test
    void slowTurnsWarnAtMostOnceEveryFiveSecondsAndCountTheOthers() {
        long now = 1_000_000_000L;
        LoopHealth health = new LoopHealth(stats, Duration.ofMillis(100), now);
        health.worked(250 * MS, now += 250 * MS);
        health.worked(99 * MS, now += 99 * MS);
        health.worked(120 * MS, now += 1_000 * MS);
        health.worked(300 * MS, now += 1_000 * MS);
        assertEquals(1, warnings().size(), warnings().toString());
        assertTrue(warnings().get(0).startsWith("the adder event loop spent 250ms on one turn (warning at 100ms)"),
                warnings().get(0));
        health.worked(100 * MS, now += 5_000 * MS);
        assertEquals(2, warnings().size(), warnings().toString());
        assertTrue(warnings().get(1).endsWith("(2 more such turns since the last warning)"), warnings().get(1));
        LoopHealth never = new LoopHealth(stats, Duration.ZERO, now);
        never.worked(10_000 * MS, now += 10_000 * MS);
        assertEquals(2, warnings().size());
    }

    @Test
    void aSlowTaskOnARunningServerShowsInItsStatsAndItsLog() throws IOException {
        try (AdderServer server = AdderServer.builder().listen("tcp:127.0.0.1:0").build()) {
            server.start();
            try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                assertEquals(3, client.add(1, 2));
                server.currentLoop().execute(() -> {
                    long until = System.nanoTime() + 150 * MS; // a stuck task: it keeps the loop busy 150 ms
                    while (System.nanoTime() < until) {
                        Thread.onSpinWait();
                    }
                });
                assertEquals(7, client.add(3, 4), "served once the task is over");
            }
            await().until(() -> server.stats().longestTurnNanos() >= 150 * MS);
            assertTrue(server.stats().busyNanos() >= 150 * MS, server.stats().toString());
            await().until(() -> !warnings().isEmpty());
            assertTrue(warnings().get(0).startsWith("the adder event loop spent "), warnings().get(0));
            assertTrue(warnings().get(0).contains("ms on one turn (warning at 100ms)"), warnings().get(0));
        }
    }
}
