package dev.adder.core.poll;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The client's poll policy against answers that come after gaps, with time
 * that the test advances: the driver polls while the policy says so and
 * blocks otherwise, counting spins and the spins that paid.
 */
class AnswerPollTest {

    private static final long MICROS = 1_000;
    private static final long WINDOW = 25 * MICROS;
    /** How long a turn with work takes here. */
    private static final long SERVICE = 3 * MICROS;

    private final AnswerPoll policy = new AnswerPoll(WINDOW);
    private long spins;
    private long spinsPaid;
    private long now = 1_000_000_000L;
    /** Time spent polling for nothing: the CPU the policy costs. */
    private long polledNanos;

    @Test
    void backToBackTrafficIsAlwaysCaughtByPolling() {
        found(policy, false);
        for (int i = 0; i < 10_000; i++) {
            assertTrue(request(10 * MICROS), "request " + i + " was not caught by a poll");
        }
        assertTrue(policy.spinning());
        assertEquals(10_001, spins);
        assertEquals(10_000, spinsPaid);
    }

    @Test
    void stopsAfterThreeMissesInARow() {
        found(policy, false);
        request(100 * MICROS);
        request(100 * MICROS);
        assertTrue(policy.spinning(), "two misses are not yet a pattern");
        request(100 * MICROS);
        assertFalse(policy.spinning());
        assertEquals(3 * WINDOW, polledNanos);
    }

    @Test
    void aMissBetweenHitsDoesNotStopIt() {
        found(policy, false);
        for (int i = 0; i < 1_000; i++) {
            request(i % 3 == 0 ? 200 * MICROS : 5 * MICROS);
        }
        assertTrue(policy.spinning());
    }

    @Test
    void sparseTrafficCostsAtMostAboutOneWindowPerThousandRequests() {
        found(policy, false);
        int requests = 100_000;
        for (int i = 0; i < requests; i++) {
            assertFalse(request(100 * MICROS), "request " + i + " was caught by a poll");
        }
        assertFalse(policy.spinning());
        // 3 misses before stopping, then probes after 2, 4, 8, ... turns, then one in 1,024
        assertTrue(spins <= 3 + 10 + requests / AnswerPoll.MAX_PROBE_INTERVAL + 1, spins + " spins");
        assertEquals(spins * WINDOW, polledNanos);
    }

    @Test
    void pacedTrafficWithGapsJustOverTheWindowDoesNotSpin() {
        // requests 50 µs apart: a gap of about 40 µs after each answer, with jitter that makes one in ten short
        SplittableRandom random = new SplittableRandom(42);
        found(policy, false);
        int requests = 100_000;
        for (int i = 0; i < requests; i++) {
            request(random.nextInt(10) == 0 ? 15 * MICROS : 30 * MICROS + random.nextLong(20 * MICROS));
        }
        double polledPerRequest = polledNanos / (double) requests;
        assertTrue(polledPerRequest < 0.5 * MICROS, "polled " + polledPerRequest + " ns per request");
    }

    @Test
    void backToBackTrafficAfterAQuietSpellSoonSpinsAgain() {
        found(policy, false);
        for (int i = 0; i < 20_000; i++) {
            request(1_000 * MICROS);
        }
        assertFalse(policy.spinning());
        int turns = 0;
        while (!policy.spinning()) {
            request(10 * MICROS);
            turns++;
        }
        // the longest probe interval, then halving it down to every turn
        assertTrue(turns <= 2 * AnswerPoll.MAX_PROBE_INTERVAL, turns + " turns");
        for (int i = 0; i < 1_000; i++) {
            assertTrue(request(10 * MICROS));
        }
    }

    @Test
    void aZeroWindowNeverPolls() {
        AnswerPoll never = new AnswerPoll(0);
        for (int i = 0; i < 100; i++) {
            found(never, i % 2 == 0);
            assertFalse(never.poll(now));
            now += MICROS;
        }
        assertEquals(0, spins);
    }

    /**
     * The next request comes {@code gap} after the last turn with work ended:
     * the loop polls (one poll per microsecond) while the policy says so, and
     * blocks otherwise. Returns whether a poll found it.
     */
    private boolean request(long gap) {
        long arrival = now + gap;
        boolean polled = false;
        while (policy.poll(now)) {
            if (now >= arrival) {
                polled = true;
                break;
            }
            now += MICROS;
            polledNanos += MICROS;
        }
        now = Math.max(now, arrival) + SERVICE;
        found(policy, polled);
        return polled;
    }

    /** A turn with work ended now: told to the policy, counted as the server's loop counts it. */
    private void found(AnswerPoll poll, boolean polled) {
        if (polled) {
            spinsPaid++;
        }
        if (poll.foundWork(polled, now)) {
            spins++;
        }
    }
}
