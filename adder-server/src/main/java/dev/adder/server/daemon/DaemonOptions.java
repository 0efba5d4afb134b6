package dev.adder.server.daemon;

import dev.adder.core.AdderAddress;
import dev.adder.core.HumanDuration;
import dev.adder.server.AdderServer;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/** The daemon's command line, parsed. Every option has a default. */
final class DaemonOptions {

    static final String DEFAULT_LISTEN = "unix:adder.sock";

    static final String USAGE = String.join(System.lineSeparator(),
            "Usage: java -jar adder-server-all.jar [OPTION]...",
            "Serves the adder protocol: answers x + y for 64-bit integers, for many clients at once.",
            "",
            "  --listen ADDR               where to listen, repeatable: unix:PATH, tcp:HOST:PORT",
            "                              or HOST:PORT; TCP port 0 picks a free port",
            "                              (default " + DEFAULT_LISTEN + ")",
            "  --max-connections N         most connections open at once; more are refused",
            "                              (default " + AdderServer.DEFAULT_MAX_CONNECTIONS + ")",
            "  --idle-timeout DURATION     close connections idle this long; 0 never does",
            "                              (default " + HumanDuration.format(AdderServer.DEFAULT_IDLE_TIMEOUT) + ")",
            "  --max-pending-output SIZE   answers held for a slow client before its requests",
            "                              are no longer read, in bytes or with k or m",
            "                              (default " + AdderServer.DEFAULT_MAX_PENDING_OUTPUT / 1024 / 1024 + "m)",
            "  --drain-timeout DURATION    on stop, longest wait for answers to reach clients",
            "                              (default " + HumanDuration.format(AdderServer.DEFAULT_DRAIN_TIMEOUT) + ")",
            "  --busy-poll DURATION        after serving, poll this long before sleeping:",
            "                              lower latency under load; 0 always sleeps",
            "                              (default " + HumanDuration.format(AdderServer.DEFAULT_BUSY_POLL) + ")",
            "  --socket-mode MODE          permissions of Unix socket files, octal (660) or",
            "                              symbolic (rw-rw----) (default: from the umask)",
            "  --no-jmx                    do not publish statistics as a JMX MBean",
            "  --help                      print this help and exit",
            "  --version                   print the version and exit",
            "",
            "DURATION is a whole number and a unit: 50us, 250ms, 30s, 5m, 1h.",
            "SIGTERM or SIGINT stops gracefully: requests received are answered first.",
            "Exit status: 0 stopped cleanly, 1 could not listen or failed, 2 bad usage.");

    /** A command line that cannot be run; the message says what is wrong. */
    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    final List<AdderAddress> listen = new ArrayList<>();
    int maxConnections = AdderServer.DEFAULT_MAX_CONNECTIONS;
    Duration idleTimeout = AdderServer.DEFAULT_IDLE_TIMEOUT;
    int maxPendingOutput = AdderServer.DEFAULT_MAX_PENDING_OUTPUT;
    Duration drainTimeout = AdderServer.DEFAULT_DRAIN_TIMEOUT;
    Duration busyPoll = AdderServer.DEFAULT_BUSY_POLL;
    Set<PosixFilePermission> socketMode;
    boolean jmx = true;
    boolean help;
    boolean version;

    private DaemonOptions() {
    }

    static DaemonOptions parse(String[] args) throws UsageException {
        DaemonOptions options = new DaemonOptions();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String name = arg;
            String inlineValue = null;
            int equals = arg.indexOf('=');
            if (arg.startsWith("--") && equals > 0) {
                name = arg.substring(0, equals);
                inlineValue = arg.substring(equals + 1);
            }
            switch (name) {
                case "--help" -> options.help = true;
                case "--version" -> options.version = true;
                case "--no-jmx" -> options.jmx = false;
                case "--listen", "--max-connections", "--idle-timeout", "--max-pending-output", "--drain-timeout",
                        "--busy-poll", "--socket-mode" -> {
                    String value = inlineValue;
                    if (value == null) {
                        if (i + 1 >= args.length) {
                            throw new UsageException(name + " needs a value");
                        }
                        value = args[++i];
                    }
                    options.set(name, value);
                }
                default -> throw new UsageException(arg.startsWith("-")
                        ? "unknown option " + arg : "unexpected argument '" + arg + "'");
            }
        }
        if (options.listen.isEmpty()) {
            options.listen.add(AdderAddress.parse(DEFAULT_LISTEN));
        }
        return options;
    }

    private void set(String name, String value) throws UsageException {
        try {
            switch (name) {
                case "--listen" -> listen.add(AdderAddress.parse(value));
                case "--max-connections" -> maxConnections = positiveInt(value);
                case "--idle-timeout" -> idleTimeout = HumanDuration.parse(value);
                case "--max-pending-output" -> maxPendingOutput = size(value);
                case "--drain-timeout" -> drainTimeout = HumanDuration.parse(value);
                case "--busy-poll" -> busyPoll = HumanDuration.parse(value);
                case "--socket-mode" -> socketMode = mode(value);
                default -> throw new IllegalStateException(name);
            }
        } catch (IllegalArgumentException e) {
            throw new UsageException(name + ": " + e.getMessage());
        }
    }

    private static int positiveInt(String value) {
        try {
            int n = Integer.parseInt(value);
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("'" + value + "' is not a whole number from 1 to " + Integer.MAX_VALUE);
    }

    private static int size(String value) {
        long unit = 1;
        String digits = value;
        if (value.endsWith("k")) {
            unit = 1024;
            digits = value.substring(0, value.length() - 1);
        } else if (value.endsWith("m")) {
            unit = 1024 * 1024;
            digits = value.substring(0, value.length() - 1);
        }
        try {
            long bytes = Long.parseLong(digits) * unit;
            if (bytes >= 64 && bytes <= Integer.MAX_VALUE / 2) {
                return (int) bytes;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("'" + value + "' is not a size from 64 bytes to 1023m, as in 65536, 64k or 1m");
    }

    private static Set<PosixFilePermission> mode(String value) {
        if (value.matches("[0-7]{3}")) {
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
            throw new IllegalArgumentException("'" + value + "' is not a mode such as 600, 660 or rw-rw----");
        }
    }
}
