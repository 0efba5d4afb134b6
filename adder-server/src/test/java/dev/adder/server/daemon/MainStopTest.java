package dev.adder.server.daemon;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A stop signal at any moment of the daemon's start, as its shutdown hook
 * sees it: {@link Main#stop} called before, during and after the start,
 * with the process's end recorded instead of halting the JVM. Every time:
 * status 0, the run returns, and no socket file is left.
 */
@Timeout(120)
class MainStopTest {

    @TempDir
    Path dir;

    private final List<Integer> halted = new CopyOnWriteArrayList<>();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private String[] options() {
        return new String[] {"--listen", "unix:" + dir.resolve("adder.sock"), "--listen", "tcp:127.0.0.1:0", "--no-jmx"};
    }

    private int run(Main daemon) {
        PrintStream stream = new PrintStream(err, true, StandardCharsets.UTF_8);
        return daemon.run(options(), stream, stream);
    }

    private void assertNothingLeft() {
        assertFalse(Files.exists(dir.resolve("adder.sock"), LinkOption.NOFOLLOW_LINKS), "the socket file was left");
        assertEquals("", err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aSignalBeforeAnythingStartedExitsZeroAndStartsNothing() {
        Main daemon = new Main(halted::add);
        daemon.stop();
        assertEquals(List.of(0), halted);
        assertEquals(0, run(daemon));
        assertNothingLeft();
    }

    @Test
    void aSignalWhileServingStopsItAndExitsZero() throws Exception {
        Main daemon = new Main(halted::add);
        ExecutorService runner = Executors.newSingleThreadExecutor();
        try {
            Future<Integer> status = runner.submit(() -> run(daemon));
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> Files.exists(dir.resolve("adder.sock"), LinkOption.NOFOLLOW_LINKS));
            daemon.stop();
            assertEquals(0, status.get(60, TimeUnit.SECONDS));
            assertEquals(List.of(0), halted);
            assertNothingLeft();
        } finally {
            runner.shutdownNow();
        }
    }

    /** The signal lands at a random moment of the start, from before the options are read to serving. */
    @Test
    void aSignalAtARandomMomentOfTheStartExitsZeroAndLeavesNothing() throws Exception {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        ExecutorService runner = Executors.newSingleThreadExecutor();
        try {
            for (int round = 0; round < 30; round++) {
                halted.clear();
                Main daemon = new Main(halted::add);
                Future<Integer> status = runner.submit(() -> run(daemon));
                long spin = random.nextInt(20_000_000); // 0-20 ms of the start, which takes a few ms here
                long end = System.nanoTime() + spin;
                while (System.nanoTime() - end < 0) {
                    Thread.onSpinWait();
                }
                daemon.stop();
                String what = "round " + round + " (seed " + seed + ", signal after " + spin + " ns)";
                assertEquals(0, status.get(60, TimeUnit.SECONDS), what);
                assertEquals(List.of(0), halted, what);
                assertNothingLeft();
            }
        } finally {
            runner.shutdownNow();
        }
    }
}
