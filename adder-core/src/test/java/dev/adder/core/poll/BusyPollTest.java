package dev.adder.core.poll;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The busy-poll policy against generated traffic, on a clock the test
 * advances: the loop polls (one poll a microsecond) while the policy says so
 * and blocks otherwise, as the server's loop and the client's driver ask it.
 * The test counts on its own the time polled for nothing and the wake-ups
 * the polls saved (requests that came after the spin's first, empty poll and
 * were found by a later one), apart for spins in closed-loop spells, and
 * checks the bounds the class promises. A client's turnaround (from its
 * answer to its next request) is 6 to 12 µs, as measured on these machines
 * (a one-connection ping-pong's spins found work 11-14 µs after the turn
 * began): longer than the CPU a wake-up costs, so the account alone would
 * stop spinning for a closed loop, which is what the last policy did.
 */
class BusyPollTest {

    private static final long MICROS = 1_000;
    private static final long WINDOW = 25 * MICROS;
    private static final long WAKE_UP = BusyPoll.DEFAULT_WAKE_UP_NANOS;
    /** How long a turn with work takes here, and the time between two polls. */
    private static final long SERVICE = 3 * MICROS;
    private static final long POLL_STEP = MICROS;
    private static final long SEED = Long.getLong("busyPollTest.seed", System.nanoTime());
    private static final int REQUESTS = 100_000;

    /**
     * What one run saw; the spins of closed-loop spells counted apart: how many began in one
     * ({@code spellSpins}), how many of those ran out, and how many spells there were.
     */
    record Run(long turns, long burnt, long saved, long caughtByPoll, long spins, long end,
            long spellSpins, long spellMisses, long spells) {
    }

    /**
     * Where the next requests come from: given the start and end of the last
     * turn (which served every request there by its start), the time of the
     * next request, or Long.MAX_VALUE when there are no more.
     */
    interface Traffic {
        long next(long turnStart, long turnEnd);
    }

    /** Requests at fixed times, an open loop: they come whatever the server does. */
    static Traffic at(long[] arrivals) {
        return new Traffic() {
            private int i;

            @Override
            public long next(long turnStart, long turnEnd) {
                while (i < arrivals.length && arrivals[i] <= turnStart) {
                    i++;
                }
                return i < arrivals.length ? arrivals[i] : Long.MAX_VALUE;
            }
        };
    }

    /** A client that sends its next request a turnaround after its answer, {@code count} times. */
    static Traffic backToBack(SplittableRandom random, int count) {
        return new Traffic() {
            private int sent;

            @Override
            public long next(long turnStart, long turnEnd) {
                return sent++ < count ? turnEnd + turnaround(random) : Long.MAX_VALUE;
            }
        };
    }

    /** A client's time from an answer to its next request: 6 to 12 µs. */
    static long turnaround(SplittableRandom random) {
        return 6 * MICROS + random.nextLong(6 * MICROS);
    }

    /**
     * One thread pacing at {@code period} with parkNanos: it sleeps until its
     * next call is due, waking 50 to 65 µs late (Linux's timer slack is
     * 50 µs), and when late sends at once after the answer until it has
     * caught up: at 20k/s gaps alternate short and long, the pattern that
     * kept the old policy spinning.
     */
    static Traffic catchUp(SplittableRandom random, long start, long period, int count) {
        return new Traffic() {
            private int sent;
            private long pending = Long.MIN_VALUE;

            @Override
            public long next(long turnStart, long turnEnd) {
                if (pending > turnStart) {
                    return pending; // not served yet
                }
                if (sent >= count) {
                    return Long.MAX_VALUE;
                }
                long due = start + sent++ * period;
                long answered = pending == Long.MIN_VALUE ? start : turnEnd + turnaround(random) / 2;
                pending = answered - due >= 0 ? answered + turnaround(random) / 2
                        : due + 50 * MICROS + random.nextLong(15 * MICROS);
                return pending;
            }
        };
    }

    /** A client beside a busier one, until the busy one is done: the next request is whichever comes first. */
    static Traffic beside(Traffic a, Traffic b) {
        return new Traffic() {
            private long nextA = Long.MIN_VALUE;
            private long nextB = Long.MIN_VALUE;

            @Override
            public long next(long turnStart, long turnEnd) {
                if (nextA <= turnStart) {
                    nextA = a.next(turnStart, turnEnd);
                }
                if (nextB <= turnStart) {
                    nextB = b.next(turnStart, turnEnd);
                }
                return nextA == Long.MAX_VALUE ? nextA : Math.min(nextA, nextB);
            }
        };
    }

    static long[] even(long start, long period, int count) {
        long[] arrivals = new long[count];
        for (int i = 0; i < count; i++) {
            arrivals[i] = start + i * period;
        }
        return arrivals;
    }

    /** Paced, each request up to half a period late. */
    static long[] jittered(SplittableRandom random, long start, long period, int count) {
        long[] arrivals = new long[count];
        for (int i = 0; i < count; i++) {
            arrivals[i] = start + i * period + random.nextLong(period / 2);
        }
        Arrays.sort(arrivals);
        return arrivals;
    }

    /**
     * One thread that makes 2 to 20 calls back to back (each a turnaround
     * after the last answer), then sleeps until its next burst is due, at the
     * rate's mean.
     */
    static Traffic bursts(SplittableRandom random, long start, long period, int count) {
        return new Traffic() {
            private int sent;
            private int leftInBurst;
            private long burstAt = start;
            private long pending = Long.MIN_VALUE;

            @Override
            public long next(long turnStart, long turnEnd) {
                if (pending > turnStart) {
                    return pending;
                }
                if (sent++ >= count) {
                    return Long.MAX_VALUE;
                }
                if (leftInBurst-- > 0) {
                    pending = turnEnd + turnaround(random);
                } else {
                    leftInBurst = 1 + random.nextInt(19);
                    pending = Math.max(burstAt, turnEnd + turnaround(random));
                    burstAt += (leftInBurst + 1) * period;
                }
                return pending;
            }
        };
    }

    static Stream<Arguments> patterns() {
        List<Arguments> all = new ArrayList<>();
        long start = 1_000_000_000L;
        for (int rate : new int[] {1_000, 5_000, 10_000, 20_000}) {
            long period = 1_000_000_000L / rate;
            for (String pattern : new String[] {"even", "jittered", "bursts", "catch-up", "back-to-back beside sparse"}) {
                all.add(Arguments.of(pattern, rate, period, start));
            }
        }
        all.add(Arguments.of("back-to-back", 0, 0L, start));
        return all.stream();
    }

    static Traffic traffic(String pattern, long period, long start, SplittableRandom random) {
        switch (pattern) {
        case "even":
            return at(even(start, period, REQUESTS));
        case "jittered":
            return at(jittered(random, start, period, REQUESTS));
        case "bursts":
            return bursts(random, start, period, REQUESTS);
        case "catch-up":
            return catchUp(random, start, period, REQUESTS);
        case "back-to-back beside sparse":
            return beside(backToBack(random, REQUESTS), at(even(start, period, REQUESTS / 20)));
        case "back-to-back":
            return backToBack(random, REQUESTS);
        default:
            throw new IllegalArgumentException(pattern);
        }
    }

    @ParameterizedTest(name = "{0} at {1} calls/s")
    @MethodSource("patterns")
    void spinsCostNoMoreThanTheWakeUpsTheySaveUnlessEverySpinPays(String pattern, int rate, long period, long start) {
        SplittableRandom random = new SplittableRandom(SEED ^ pattern.hashCode() ^ rate);
        Run run = run(new BusyPoll(WINDOW), traffic(pattern, period, start, random), start);
        long bound = run.saved * WAKE_UP + run.turns * WINDOW / BusyPoll.PROBE_INTERVAL + 2 * WINDOW;
        System.out.printf("BusyPollTest seed %d: %s at %d/s: %d turns, burnt %d µs outside closed-loop spells, saved %d"
                + " wake-ups, bound %d µs; %d caught by a poll; %d spells, %d spins in them, %d ran out%n", SEED, pattern,
                rate, run.turns, run.burnt / MICROS, run.saved, bound / MICROS, run.caughtByPoll, run.spells, run.spellSpins,
                run.spellMisses);
        String seen = "seed " + SEED + ": " + pattern + " at " + rate + "/s: " + run;
        assertTrue(run.turns > REQUESTS / 25, seen);
        assertTrue(run.burnt <= bound, seen + ": burnt more than the bound " + bound + " ns outside closed-loop spells");
        assertTrue(run.spellMisses <= (run.spellSpins - run.spellMisses) / BusyPoll.CLOSED_LOOP_LATE + 16 * run.spells,
                seen + ": more spins ran out in closed-loop spells than their bound");
        if (pattern.startsWith("back-to-back")) {
            // the busy client's requests all come a turnaround after their answers: once 60 probes of 64 (each
            // earned back within PROBE_INTERVAL turns) have paid, it is a closed loop, and every spin pays
            assertEquals(1, run.spells, seen + ": one closed-loop spell, never left");
            assertTrue(run.caughtByPoll >= run.turns - BusyPoll.CLOSED_LOOP_SPINS * (BusyPoll.PROBE_INTERVAL + 1),
                    seen + ": only " + run.caughtByPoll + " turns caught by a poll");
            assertEquals(0, run.spellMisses, seen);
        } else {
            // paced traffic's gaps outlast the window now and then: closed-loop spells are rare and short
            assertTrue(run.spellSpins <= run.turns / 100, seen + ": paced traffic taken for a closed loop");
        }
    }

    @Test
    void everyOtherGapLongCostsNoMoreThanItSaves() {
        // the old policy's blind spot: one spin in three paying kept it spinning after every turn, burning a
        // window per miss; here each paid spin saves 5 µs and each miss burns 25
        BusyPoll policy = new BusyPoll(WINDOW);
        SplittableRandom random = new SplittableRandom(SEED);
        long start = 1_000_000_000L;
        long[] arrivals = new long[REQUESTS];
        long t = start;
        for (int i = 0; i < REQUESTS; i++) {
            t += i % 3 == 0 ? 200 * MICROS : SERVICE + 2 * MICROS + random.nextLong(MICROS);
            arrivals[i] = t;
        }
        Run run = run(policy, at(arrivals), start);
        assertFalse(policy.spinning());
        assertTrue(run.spins < REQUESTS / 50, run.toString());
        assertTrue(run.burnt <= run.saved * WAKE_UP + run.turns * WINDOW / BusyPoll.PROBE_INTERVAL + 2 * WINDOW,
                run.toString());
    }

    @Test
    void sparseTrafficCostsAtMostOneWindowPerProbeInterval() {
        BusyPoll policy = new BusyPoll(WINDOW);
        long start = 1_000_000_000L;
        Run run = run(policy, at(even(start, 100 * MICROS, REQUESTS)), start);
        assertEquals(0, run.caughtByPoll);
        assertEquals(BusyPoll.State.STOPPED, policy.state());
        assertTrue(run.burnt <= WINDOW + run.turns * WINDOW / BusyPoll.PROBE_INTERVAL, run.toString());
        assertTrue(run.spins >= run.turns / BusyPoll.PROBE_INTERVAL / 2, "it still probes: " + run);
    }

    @Test
    void backToBackTrafficAfterAQuietSpellIsTakenForAClosedLoopWithin64Probes() {
        BusyPoll policy = new BusyPoll(WINDOW);
        long start = 1_000_000_000L;
        run(policy, at(even(start, MILLIS, 20_000)), start);
        assertEquals(BusyPoll.State.STOPPED, policy.state());
        long later = start + 30_000 * MILLIS;
        Run run = run(policy, backToBack(new SplittableRandom(SEED), 40_000), later);
        assertEquals(BusyPoll.State.CLOSED_LOOP, policy.state());
        // a probe burns at most a window, earned back within PROBE_INTERVAL turns; 60 of 64 probes that pay
        assertTrue(run.caughtByPoll >= run.turns - BusyPoll.CLOSED_LOOP_SPINS * (BusyPoll.PROBE_INTERVAL + 1), run.toString());
        assertEquals(1, run.spells, run.toString());
    }

    @Test
    void aClosedLoopOutlastsARareLongGapButNotFrequentOnes() {
        long start = 1_000_000_000L;
        for (int every : new int[] {200, 20}) {
            BusyPoll policy = new BusyPoll(WINDOW);
            SplittableRandom random = new SplittableRandom(SEED);
            long[] arrivals = new long[REQUESTS];
            long t = start;
            for (int i = 0; i < REQUESTS; i++) {
                t += i % every == every - 1 ? 200 * MICROS : SERVICE + turnaround(random);
                arrivals[i] = t;
            }
            Run run = run(policy, at(arrivals), start);
            if (every == 200) {
                assertEquals(BusyPoll.State.CLOSED_LOOP, policy.state(), run.toString());
                assertEquals(1, run.spells, "one spell, never left: " + run);
            } else {
                assertTrue(run.spellSpins <= run.turns / 100, "one long gap in 20 is paced traffic: " + run);
            }
        }
    }

    @Test
    void aClosedLoopOutlastsAnAnswerLateOnceIn25SpinsButNotAPauseOnceIn11() {
        long start = 1_000_000_000L;
        for (boolean late : new boolean[] {true, false}) {
            BusyPoll policy = new BusyPoll(WINDOW);
            SplittableRandom random = new SplittableRandom(SEED);
            long[] arrivals = new long[REQUESTS];
            long t = start;
            for (int i = 0; i < REQUESTS; i++) {
                long gap = late ? (i % 25 == 24 ? 30 * MICROS + random.nextLong(50 * MICROS) : 0)
                        : (i % 11 == 10 ? 150 * MICROS + random.nextLong(500 * MICROS) : 0);
                t += SERVICE + (gap > 0 ? gap : turnaround(random));
                arrivals[i] = t;
            }
            Run run = run(policy, at(arrivals), start);
            if (late) {
                assertEquals(BusyPoll.State.CLOSED_LOOP, policy.state(), run.toString());
                assertEquals(1, run.spells, "a peer descheduled now and then is still a closed loop: " + run);
            } else {
                assertTrue(run.spellSpins <= run.turns / 100, "a burst of 11 calls, then a pause, is paced traffic: " + run);
            }
        }
    }

    @Test
    void aClosedLoopSpellEndsWithinThreeMissesOfSparseTraffic() {
        BusyPoll policy = new BusyPoll(WINDOW);
        long start = 1_000_000_000L;
        Run busy = run(policy, backToBack(new SplittableRandom(SEED), 10_000), start);
        assertEquals(BusyPoll.State.CLOSED_LOOP, policy.state());
        long[] sparse = even(busy.end(), MILLIS, 100);
        Run run = run(policy, at(sparse), sparse[0] - SERVICE);
        assertEquals(BusyPoll.State.STOPPED, policy.state());
        // the spell's tally is at most 2 x 64: three misses end it; then whatever credit it had left, one probe in 256
        assertTrue(run.spins <= 3 + BusyPoll.CREDIT_WINDOWS + 1, run.toString());
        assertTrue(run.caughtByPoll <= 1, "the spin begun by the busy client's last turn at most: " + run);
    }

    @Test
    void aLongGapBetweenTwoPollsOfASpinIsNotChargedToIt() {
        // a task, a timer or a pause of the JVM between two polls: the spin is charged its window, not the
        // gap (a 10 ms gap charged in full kept the loop from spinning for some 100,000 turns)
        BusyPoll policy = new BusyPoll(WINDOW);
        long t = 1_000_000_000L;
        for (int i = 0; i < 2; i++) { // two pauses end the spell a loop begins in
            assertTrue(policy.foundWork(false, t));
            assertTrue(policy.poll(t));
            t += WINDOW;
            assertFalse(policy.poll(t));
            t += MILLIS;
        }
        int turns = 0;
        while (!policy.foundWork(false, t)) {
            t += MILLIS;
            turns++;
        }
        assertTrue(turns <= 2 * BusyPoll.PROBE_INTERVAL + 2, "a probe after " + turns + " turns");
        assertTrue(policy.poll(t));
        t += 10 * MILLIS;
        assertFalse(policy.poll(t));
        turns = 0;
        t += MICROS;
        while (!policy.foundWork(false, t) && turns < 1_000_000) {
            t += 50 * MICROS;
            turns++;
        }
        assertTrue(turns <= 2 * BusyPoll.PROBE_INTERVAL + 2, "no spin for " + turns + " turns with work");
    }

    @Test
    void aZeroWindowNeverPolls() {
        BusyPoll never = new BusyPoll(0);
        long now = 0;
        for (int i = 0; i < 100; i++) {
            assertFalse(never.foundWork(i % 2 == 0, now));
            assertFalse(never.poll(now));
            now += MICROS;
        }
        assertFalse(never.spinning());
    }

    @Test
    void aNegativeWindowOrWakeUpIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new BusyPoll(-1));
        assertThrows(IllegalArgumentException.class, () -> new BusyPoll(WINDOW, -1));
        assertThrows(IllegalArgumentException.class, () -> new BusyPoll(1_000_000_001L));
        assertThrows(IllegalArgumentException.class, () -> new BusyPoll(WINDOW, Long.MAX_VALUE));
    }

    private static final long MILLIS = 1_000 * MICROS;

    /**
     * Serves {@code traffic} from {@code start}: after each turn the loop polls
     * while the policy says so, and otherwise blocks until the next request.
     */
    private static Run run(BusyPoll policy, Traffic traffic, long start) {
        long now = start;
        long turnStart = start - SERVICE;
        long turns = 0;
        long burnt = 0;
        long saved = 0;
        long caught = 0;
        long spins = 0;
        long spellSpins = 0;
        long spellMisses = 0;
        long spells = policy.state() == BusyPoll.State.CLOSED_LOOP ? 1 : 0; // a new policy begins in one
        boolean polled = false;
        while (true) {
            long arrival = traffic.next(turnStart, now);
            if (arrival == Long.MAX_VALUE) {
                return new Run(turns, burnt, saved, caught, spins, now, spellSpins, spellMisses, spells);
            }
            boolean spin = false;
            boolean inSpell = false;
            if (turns > 0 || polled) {
                boolean wasInSpell = policy.state() == BusyPoll.State.CLOSED_LOOP;
                spin = policy.foundWork(polled, now);
                inSpell = policy.state() == BusyPoll.State.CLOSED_LOOP;
                if (inSpell && !wasInSpell) {
                    spells++;
                }
                if (spin) {
                    spins++;
                }
            }
            polled = false;
            long spinStart = now;
            long polledFor = 0;
            while (policy.poll(now)) {
                if (arrival <= now) {
                    polled = true;
                    break;
                }
                now += POLL_STEP;
                polledFor += POLL_STEP;
            }
            if (inSpell && spin) {
                spellSpins++;
                spellMisses += polled ? 0 : 1;
            } else {
                burnt += polledFor;
            }
            if (polled) {
                caught++;
                if (now > spinStart && !(inSpell && spin)) { // the account's savings: outside spells
                    saved++;
                }
            }
            turnStart = Math.max(now, arrival);
            now = turnStart + SERVICE;
            turns++;
        }
    }
}
