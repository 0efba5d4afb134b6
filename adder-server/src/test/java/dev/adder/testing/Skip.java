package dev.adder.testing;

import org.junit.jupiter.api.Assumptions;

/**
 * Skips a test whose precondition this machine lacks, and says why in the
 * build's console output: an assumption's reason otherwise reaches only the
 * XML report, and a skip nobody sees reads as a pass.
 */
public final class Skip {
    private Skip() {
    }

    /** Aborts the calling test, printing {@code "SKIPPED: " + why}, unless {@code condition} holds. */
    public static void unless(boolean condition, String why) {
        if (!condition) {
            System.out.println("SKIPPED: " + why);
            Assumptions.abort(why);
        }
    }
}
