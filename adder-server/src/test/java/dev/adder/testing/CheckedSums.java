package dev.adder.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * Calls that check their own answers: pairs drawn from a seeded random
 * source, each answer compared with Java's sum, so that an answer handed to
 * the wrong caller or corrupted on the way counts as wrong.
 */
public final class CheckedSums {

    /** Whatever adds on a server: a test's raw client, or the real one. */
    @FunctionalInterface
    public interface Adder {
        long add(long x, long y) throws Exception;
    }

    private CheckedSums() {
    }

    /** Makes {@code calls} calls of pairs drawn from {@code seed}; returns how many were answered right. */
    public static long right(Adder adder, long seed, int calls) throws Exception {
        SplittableRandom random = new SplittableRandom(seed);
        long right = 0;
        for (int i = 0; i < calls; i++) {
            long x = random.nextLong();
            long y = random.nextLong();
            if (adder.add(x, y) == x + y) {
                right++;
            }
        }
        return right;
    }

    /**
     * Runs {@code callers} callers on {@code pool} at once, caller {@code c}
     * making {@code calls} checked calls of seed {@code c} on
     * {@code adderOf.apply(c)}, and asserts that every answer was right.
     */
    public static void assertAllRight(ExecutorService pool, int callers, int calls, IntFunction<Adder> adderOf)
            throws Exception {
        List<Future<Long>> results = new ArrayList<>();
        for (int c = 0; c < callers; c++) {
            Adder adder = adderOf.apply(c);
            long seed = c;
            results.add(pool.submit(() -> right(adder, seed, calls)));
        }
        for (Future<Long> result : results) {
            assertEquals(calls, result.get());
        }
    }
}
