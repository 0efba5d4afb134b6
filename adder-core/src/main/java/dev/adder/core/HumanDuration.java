package dev.adder.core;

import java.time.Duration;
import java.util.Objects;

/**
 * Durations as people type them on a command line: a whole number and a
 * unit, {@code 50us}, {@code 250ms}, {@code 30s}, {@code 5m}, {@code 1h};
 * {@code 0} alone means zero.
 */
public final class HumanDuration {

    private HumanDuration() {
    }

    /**
     * Parses a duration such as {@code 250ms}, {@code 30s}, {@code 5m} or {@code 1h}.
     *
     * @throws IllegalArgumentException naming the input and the forms accepted
     * @param text the duration as typed
     * @return the duration
     */
    public static Duration parse(String text) {
        Objects.requireNonNull(text, "duration");
        if (text.equals("0")) {
            return Duration.ZERO;
        }
        int unitStart = 0;
        while (unitStart < text.length() && Character.isDigit(text.charAt(unitStart))) {
            unitStart++;
        }
        if (unitStart == 0 || unitStart > 12) {
            throw invalid(text);
        }
        long amount = Long.parseLong(text.substring(0, unitStart));
        switch (text.substring(unitStart)) {
            case "us":
                return Duration.ofNanos(amount * 1000);
            case "ms":
                return Duration.ofMillis(amount);
            case "s":
                return Duration.ofSeconds(amount);
            case "m":
                return Duration.ofMinutes(amount);
            case "h":
                return Duration.ofHours(amount);
            default:
                throw invalid(text);
        }
    }

    /**
     * The shortest exact form {@link #parse} accepts (to the microsecond): {@code 250ms}, {@code 30s}, {@code 5m}.
     *
     * @param duration zero or positive
     * @return the text
     */
    public static String format(Duration duration) {
        if (duration.isZero()) {
            return "0";
        }
        long micros = duration.toNanos() / 1000;
        if (micros % 1000 != 0) {
            return micros + "us";
        }
        long millis = duration.toMillis();
        if (millis % 3_600_000 == 0) {
            return millis / 3_600_000 + "h";
        }
        if (millis % 60_000 == 0) {
            return millis / 60_000 + "m";
        }
        if (millis % 1000 == 0) {
            return millis / 1000 + "s";
        }
        return millis + "ms";
    }

    /**
     * Any duration, for messages about a value that may be out of range: the
     * form of {@link #format} when it has one, else the ISO-8601 form
     * ({@code PT-5S}) for a negative one or one beyond a million hours.
     *
     * @param duration any duration
     * @return the text
     */
    public static String describe(Duration duration) {
        if (duration.isNegative() || duration.compareTo(Duration.ofHours(1_000_000)) > 0) {
            return duration.toString();
        }
        return format(duration);
    }

    private static IllegalArgumentException invalid(String text) {
        return new IllegalArgumentException("invalid duration '" + text
                + "': expected a whole number and a unit, as in 50us, 250ms, 30s, 5m or 1h");
    }
}
