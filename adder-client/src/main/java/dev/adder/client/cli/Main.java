package dev.adder.client.cli;

import dev.adder.client.AdderClient;
import dev.adder.client.AdderException;
import dev.adder.core.AdderAddress;
import dev.adder.core.HumanDuration;
import java.io.PrintStream;
import java.time.Duration;

/**
 * {@code java -jar adder-client-VERSION-all.jar [--connect ADDR] [--timeout DURATION] X Y}:
 * prints {@code X + Y} as computed by an adder server.
 */
public final class Main {

    /** Exit status when the sum was printed. */
    static final int OK = 0;
    /** Exit status when the server could not be reached or the call failed. */
    static final int CALL_FAILED = 1;
    /** Exit status for a bad command line. */
    static final int USAGE = 2;

    static final String DEFAULT_ADDRESS = "unix:adder.sock";

    private static final String USAGE_TEXT = String.join(System.lineSeparator(),
            "Usage: java -jar adder-client-all.jar [--connect ADDR] [--timeout DURATION] X Y",
            "Adds two signed 64-bit integers on an adder server and prints the sum.",
            "",
            "  --connect ADDR      the server: unix:PATH, tcp:HOST:PORT or HOST:PORT",
            "                      (default " + DEFAULT_ADDRESS + ")",
            "  --timeout DURATION  longest wait to connect, and then for the answer,",
            "                      as 250ms, 30s or 1m (1ms to 24h, default 5s)",
            "  --help              print this help and exit",
            "",
            "Exit status: 0 the sum was printed, 1 the call failed, 2 bad usage.");

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the command line; returns the exit status. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        String connect = DEFAULT_ADDRESS;
        Duration timeout = Duration.ofSeconds(5);
        String[] operands = new String[2];
        int count = 0;
        boolean optionsEnded = false;
        try {
            for (int i = 0; i < args.length; i++) {
                String arg = args[i];
                if (!optionsEnded && arg.startsWith("--")) {
                    switch (arg) {
                        case "--help":
                            out.println(USAGE_TEXT);
                            return OK;
                        case "--connect":
                            connect = value(args, ++i, arg);
                            AdderAddress.parse(connect);
                            break;
                        case "--timeout":
                            String text = value(args, ++i, arg);
                            timeout = HumanDuration.parse(text);
                            if (timeout.compareTo(AdderClient.MIN_TIMEOUT) < 0
                                    || timeout.compareTo(AdderClient.MAX_TIMEOUT) > 0) {
                                throw new IllegalArgumentException("--timeout: " + text
                                        + " is out of range: from 1ms to 24h");
                            }
                            break;
                        case "--":
                            optionsEnded = true;
                            break;
                        default:
                            throw new IllegalArgumentException("unknown option " + arg);
                    }
                } else if (count < 2) {
                    operands[count++] = arg;
                } else {
                    throw new IllegalArgumentException("too many arguments: expected two numbers, X and Y");
                }
            }
            if (count < 2) {
                throw new IllegalArgumentException(count == 0 ? "missing X and Y" : "missing Y");
            }
        } catch (IllegalArgumentException e) {
            return usageError(err, e.getMessage());
        }
        long x;
        long y;
        try {
            x = parseLong(operands[0], "X");
            y = parseLong(operands[1], "Y");
        } catch (IllegalArgumentException e) {
            return usageError(err, e.getMessage());
        }
        try (AdderClient client = AdderClient.builder(connect)
                .connectTimeout(timeout).callTimeout(timeout).connect()) {
            out.println(client.add(x, y));
            return OK;
        } catch (AdderException e) {
            err.println("adder-client: " + e.getMessage());
            return CALL_FAILED;
        }
    }

    private static String value(String[] args, int index, String option) {
        if (index >= args.length) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[index];
    }

    private static long parseLong(String text, String name) {
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " is not a signed 64-bit integer: '" + text + "'");
        }
    }

    private static int usageError(PrintStream err, String message) {
        err.println("adder-client: " + message + " (try --help)");
        return USAGE;
    }
}
