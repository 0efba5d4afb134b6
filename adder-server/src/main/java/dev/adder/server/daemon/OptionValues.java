package dev.adder.server.daemon;

import dev.adder.core.HumanDuration;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Set;

/**
 * The daemon's option values that are numbers, durations, sizes and modes, each read within its
 * range; a value that is not one throws {@link IllegalArgumentException} with the line the user sees
 * after the option's name.
 */
final class OptionValues {

    private OptionValues() {
    }

    static long wholeNumber(String value, long min, long max) {
        try {
            long n = Long.parseLong(value);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("'" + value + "' is not a whole number from " + min + " to " + max);
    }

    /** Zero, or a duration from {@code min} to {@code max}. */
    static Duration duration(String value, Duration min, Duration max) {
        return duration(value, min, max, true);
    }

    /** A duration from {@code min} to {@code max}, or zero too if {@code zero} says so. */
    static Duration duration(String value, Duration min, Duration max, boolean zero) {
        Duration duration = HumanDuration.parse(value);
        if ((!zero || !duration.isZero()) && (duration.compareTo(min) < 0 || duration.compareTo(max) > 0)) {
            throw new IllegalArgumentException(value + " is out of range: " + (min.isZero() || !zero ? "" : "0, or ")
                    + "from " + HumanDuration.format(min) + " to " + HumanDuration.format(max));
        }
        return duration;
    }

    /** Bytes, or a whole number with k, m or g; from {@code min} to {@code max} bytes. */
    static long size(String value, long min, long max) {
        int unitShift = switch (value.isEmpty() ? ' ' : value.charAt(value.length() - 1)) {
            case 'k' -> 10;
            case 'm' -> 20;
            case 'g' -> 30;
            default -> 0;
        };
        String digits = unitShift == 0 ? value : value.substring(0, value.length() - 1);
        String range = "from " + formatSize(min) + " to " + formatSize(max) + " bytes, as in 65536, 64k, 1m or 1g";
        if (digits.isEmpty() || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException("'" + value + "' is not a size " + range);
        }
        try {
            long bytes = Math.multiplyExact(Long.parseLong(digits), 1L << unitShift);
            if (bytes >= min && bytes <= max) {
                return bytes;
            }
        } catch (NumberFormatException | ArithmeticException e) {
            // too large for a long: out of range
        }
        throw new IllegalArgumentException(value + " is out of range: " + range);
    }

    private static String formatSize(long bytes) {
        for (String unit : new String[] {"g", "m", "k"}) {
            long scale = unit.equals("g") ? 1L << 30 : unit.equals("m") ? 1L << 20 : 1L << 10;
            if (bytes >= scale && bytes % scale == 0) {
                return bytes / scale + unit;
            }
        }
        return Long.toString(bytes);
    }

    static Set<PosixFilePermission> mode(String value) {
        if (value.matches("0?[0-7]{3}")) { // 660, or 0660 as chmod users type it
            Set<PosixFilePermission> permissions = EnumSet.noneOf(PosixFilePermission.class);
            PosixFilePermission[] order = PosixFilePermission.values(); // OWNER_READ ... OTHERS_EXECUTE
            int bits = Integer.parseInt(value, 8);
            for (int i = 0; i < 9; i++) {
                if ((bits & (1 << (8 - i))) != 0) {
                    permissions.add(order[i]);
                }
            }
            return permissions;
        }
        try {
            return PosixFilePermissions.fromString(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + value + "' is not a mode such as 600, 0660 or rw-rw----");
        }
    }
}
