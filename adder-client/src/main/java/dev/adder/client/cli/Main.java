package dev.adder.client.cli;

import dev.adder.client.AdderClient;
import dev.adder.client.AdderException;
import dev.adder.core.AdderAddress;
import dev.adder.core.AdderVersion;
import dev.adder.core.HumanDuration;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;

/**
 * {@code java -jar adder-client-all.jar [--connect ADDR] [--timeout DURATION] X Y}:
 * prints {@code X + Y} as computed by an adder server. A launcher that runs
 * it under a name of its own says so in the system property
 * {@code adder.program} (the distribution's {@code bin/adder}: {@code adder}),
 * and the help and the error lines use that name.
 */
public final class Main {

    /** Exit status when the sum was printed. */
    static final int OK = 0;
    /** Exit status when the server could not be reached or the call failed. */
    static final int CALL_FAILED = 1;
    /** Exit status for a bad command line. */
    static final int USAGE = 2;

    static final String DEFAULT_ADDRESS = "unix:adder.sock";

    /** The help, less its first line, which names the program: {@link #usage}. */
    private static final String HELP = String.join(System.lineSeparator(),
            "Adds two signed 64-bit integers on an adder server and prints the sum.",
            "",
            "  --connect ADDR      the server: unix:PATH, tcp:HOST:PORT, HOST:PORT or",
            "                      tls:HOST:PORT; a bare path with a / or ending in .sock",
            "                      is a socket file (default " + DEFAULT_ADDRESS + ")",
            "  --tls-ca FILE       for tls:, trust the CAs of this PEM file (default: the",
            "                      JDK's trusted CAs); the server's name is verified",
            "  --tls-cert FILE     for tls:, present this PEM certificate chain ...",
            "  --tls-key FILE      ... with this PEM PKCS#8 key (mutual TLS)",
            "  --timeout DURATION  longest wait to connect, and then for the answer,",
            "                      as 250ms, 30s or 1m (1ms to 24h, default 5s)",
            "  -h, --help          print this help and exit",
            "  -V, --version       print the version and exit",
            "",
            "Options take their value as --opt VALUE or --opt=VALUE; X and Y may be negative.",
            "Exit status: 0 the sum was printed, 1 the call failed (a server certificate",
            "that does not verify among the causes), 2 bad usage (a TLS file that cannot",
            "be used among them).");

    private Main() {
    }

    /** The help, its first line naming the program as it was run. */
    static String usage() {
        String program = System.getProperty("adder.program", "java -jar adder-client-all.jar");
        return "Usage: " + program + " [OPTION]... X Y" + System.lineSeparator() + HELP;
    }

    /** What the error lines begin with: the launcher's name for the program, else adder-client. */
    private static String name() {
        return System.getProperty("adder.program", "adder-client");
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs the command line; returns the exit status. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        String connect = DEFAULT_ADDRESS;
        Duration timeout = Duration.ofSeconds(5);
        Path tlsCa = null;
        Path tlsCert = null;
        Path tlsKey = null;
        String[] operands = new String[2];
        int count = 0;
        boolean optionsEnded = false;
        try {
            for (int i = 0; i < args.length; i++) {
                String arg = args[i];
                boolean option = !optionsEnded && (arg.startsWith("--") || arg.equals("-h") || arg.equals("-V"));
                if (!option) {
                    if (count == 2) {
                        throw new IllegalArgumentException("too many arguments: expected two numbers, X and Y");
                    }
                    operands[count++] = arg; // "-5" is a number, not an option
                    continue;
                }
                String name = arg;
                String inline = null;
                int equals = arg.indexOf('=');
                if (arg.startsWith("--") && equals > 0) {
                    name = arg.substring(0, equals);
                    inline = arg.substring(equals + 1);
                }
                switch (name) {
                    case "-h", "--help" -> {
                        out.println(usage());
                        return OK;
                    }
                    case "-V", "--version" -> {
                        out.println("adder-client " + AdderVersion.current());
                        return OK;
                    }
                    case "--" -> optionsEnded = true;
                    case "--connect" -> {
                        connect = inline != null ? inline : value(args, ++i, name);
                        try {
                            AdderAddress.parse(connect);
                        } catch (IllegalArgumentException e) {
                            throw new IllegalArgumentException("--connect: " + e.getMessage());
                        }
                    }
                    case "--timeout" -> {
                        String text = inline != null ? inline : value(args, ++i, name);
                        try {
                            timeout = HumanDuration.parse(text);
                        } catch (IllegalArgumentException e) {
                            throw new IllegalArgumentException("--timeout: " + e.getMessage());
                        }
                        if (timeout.compareTo(AdderClient.MIN_TIMEOUT) < 0 || timeout.compareTo(AdderClient.MAX_TIMEOUT) > 0) {
                            throw new IllegalArgumentException("--timeout: " + text + " is out of range: from 1ms to 24h");
                        }
                    }
                    case "--tls-ca" -> tlsCa = Path.of(inline != null ? inline : value(args, ++i, name));
                    case "--tls-cert" -> tlsCert = Path.of(inline != null ? inline : value(args, ++i, name));
                    case "--tls-key" -> tlsKey = Path.of(inline != null ? inline : value(args, ++i, name));
                    default -> throw new IllegalArgumentException("unknown option " + arg);
                }
            }
            if (count < 2) {
                throw new IllegalArgumentException(count == 0 ? "missing X and Y" : "missing Y");
            }
            if ((tlsCert == null) != (tlsKey == null)) {
                throw new IllegalArgumentException(tlsCert == null ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key");
            }
            if ((tlsCa != null || tlsCert != null) && !AdderAddress.parse(connect).isTls()) {
                throw new IllegalArgumentException("--tls-ca, --tls-cert and --tls-key are for a tls: address, not " + connect);
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
        AdderClient.Builder builder = AdderClient.builder(connect).connectTimeout(timeout).callTimeout(timeout);
        try {
            if (tlsCa != null) {
                builder.tlsCa(tlsCa);
            }
            if (tlsCert != null) {
                builder.tlsCertificate(tlsCert, tlsKey);
            }
        } catch (IOException e) {
            return usageError(err, e.getMessage());
        }
        try (AdderClient client = builder.connect()) {
            out.println(client.add(x, y));
            return OK;
        } catch (AdderException e) {
            err.println(name() + ": " + e.getMessage());
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
        err.println(name() + ": " + message + " (try --help)");
        return USAGE;
    }
}
