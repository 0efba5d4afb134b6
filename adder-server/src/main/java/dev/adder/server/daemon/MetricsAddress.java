package dev.adder.server.daemon;

import dev.adder.core.AdderAddress;

/**
 * The value of {@code --metrics}: a TCP address, {@code tcp:HOST:PORT} or
 * {@code HOST:PORT}, since {@code /metrics} is plain HTTP over TCP. Its
 * errors name only those two forms, not every address {@link AdderAddress}
 * takes (a listener's {@code unix:} and {@code tls:} among them).
 */
final class MetricsAddress {

    private static final String TAKES = "/metrics is plain HTTP, served on tcp:HOST:PORT or HOST:PORT";

    private MetricsAddress() {
    }

    /** @throws IllegalArgumentException naming the value and what is wrong with it */
    static AdderAddress parse(String value) {
        if (value.startsWith("tls:")) {
            throw new IllegalArgumentException("'" + value + "' asks for TLS, which /metrics does not serve: " + TAKES);
        }
        if (value.startsWith("unix:")) {
            throw new IllegalArgumentException("'" + value + "' is not a TCP address: " + TAKES);
        }
        AdderAddress address;
        try {
            address = AdderAddress.parse(value);
        } catch (IllegalArgumentException e) {
            // where AdderAddress finds no address at all, it lists every form it takes: say what is missing
            int colon = value.indexOf(':');
            String hostPort = value.startsWith("tcp:") ? value.substring("tcp:".length()) : value;
            if (!value.startsWith("tcp:") && colon > 0 && value.indexOf(':', colon + 1) > 0 && !value.startsWith("[")
                    && value.substring(0, colon).chars().allMatch(Character::isLetter)) {
                throw new IllegalArgumentException("'" + value + "' has an unknown scheme '" + value.substring(0, colon + 1)
                        + "': " + TAKES);
            }
            if (!hostPort.contains(":")) {
                throw new IllegalArgumentException("'" + value + "' has no port: " + TAKES + " (port 0 picks one)");
            }
            throw e;
        }
        if (address.isUnix()) {
            throw new IllegalArgumentException("'" + value + "' is not a TCP address: " + TAKES);
        }
        return address;
    }
}
