package dev.adder.server.daemon;

import static dev.adder.server.daemon.OptionValues.duration;
import static dev.adder.server.daemon.OptionValues.mode;
import static dev.adder.server.daemon.OptionValues.size;
import static dev.adder.server.daemon.OptionValues.wholeNumber;

import dev.adder.core.AdderAddress;
import dev.adder.core.HumanDuration;
import dev.adder.server.AdderServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/** The daemon's command line, parsed. Every option has a default. */
final class DaemonOptions {

    static final String DEFAULT_LISTEN = "unix:adder.sock";

    /** The help, less its first line, which names the program (the daemon's {@code Main} adds it). */
    static final String HELP = String.join(System.lineSeparator(),
            "Serves the adder protocol: answers x + y for 64-bit integers, for many clients at once.",
            "",
            "  --listen ADDR               where to listen, repeatable: unix:PATH, tcp:HOST:PORT,",
            "                              HOST:PORT or tls:HOST:PORT; TCP port 0 picks a free port",
            "                              (default " + DEFAULT_LISTEN + ")",
            "  --loops N                   event loops (threads) serving connections; the first",
            "                              also accepts (1 to " + AdderServer.MAX_LOOPS + ", default 1)",
            "  --max-connections N         most connections open at once; more are refused",
            "                              (1 to " + AdderServer.MAX_MAX_CONNECTIONS + ", default "
                    + AdderServer.DEFAULT_MAX_CONNECTIONS + ")",
            "  --idle-timeout DURATION     close connections idle this long; 0 never does",
            "                              (0, or 1ms to " + HumanDuration.format(AdderServer.MAX_IDLE_TIMEOUT)
                    + ", default " + HumanDuration.format(AdderServer.DEFAULT_IDLE_TIMEOUT) + ")",
            "  --max-pending-output SIZE   answers held for one slow client before its requests",
            "                              are no longer read (64 to 1g, default "
                    + AdderServer.DEFAULT_MAX_PENDING_OUTPUT / 1024 / 1024 + "m)",
            "  --max-pending-output-total SIZE",
            "                              answers held for all slow clients together before",
            "                              those holding answers are no longer read",
            "                              (64k to 1024g, default a quarter of the heap: -Xmx/4)",
            "  --drain-timeout DURATION    on stop, longest wait for answers to reach clients",
            "                              (0 to " + HumanDuration.format(AdderServer.MAX_DRAIN_TIMEOUT) + ", default "
                    + HumanDuration.format(AdderServer.DEFAULT_DRAIN_TIMEOUT) + ")",
            "  --busy-poll DURATION        after serving, poll up to this long before sleeping,",
            "                              while polls save more than they burn or a client",
            "                              answers every answer at once; 0 never polls",
            "                              (0 to " + HumanDuration.format(AdderServer.MAX_BUSY_POLL) + ", default "
                    + HumanDuration.format(AdderServer.DEFAULT_BUSY_POLL) + ")",
            "  --slow-turn-warning DURATION",
            "                              log a warning when one turn of the event loop works",
            "                              this long (a GC pause, a slow task); 0 never does",
            "                              (0, or 1ms to " + HumanDuration.format(AdderServer.MAX_SLOW_TURN_WARNING)
                    + ", default " + HumanDuration.format(AdderServer.DEFAULT_SLOW_TURN_WARNING) + ")",
            "  --socket-mode MODE          permissions of Unix socket files, octal (660 or 0660)",
            "                              or symbolic (rw-rw----) (default: from the umask)",
            "  --tls-cert FILE             for tls: listeners, the PEM certificate chain (the",
            "                              server's own first) ...",
            "  --tls-key FILE              ... and its PEM PKCS#8 private key, unencrypted",
            "  --tls-keystore FILE         or a PKCS#12 keystore holding both",
            "  --tls-keystore-password-file FILE",
            "                              the keystore's password, the file's first line",
            "                              (default: no password)",
            "  --tls-client-ca FILE        admit only TLS clients whose certificate a CA of this",
            "                              PEM file signed (mutual TLS)",
            "  --max-handshakes N          TLS handshakes in progress at once; more wait to be",
            "                              accepted (1 to " + AdderServer.MAX_MAX_HANDSHAKES + ", default "
                    + AdderServer.DEFAULT_MAX_HANDSHAKES + ")",
            "  --handshake-timeout DURATION",
            "                              close a TLS connection whose handshake is not done",
            "                              this long after its accept (" + HumanDuration.format(AdderServer.MIN_HANDSHAKE_TIMEOUT)
                    + " to " + HumanDuration.format(AdderServer.MAX_HANDSHAKE_TIMEOUT) + ", default "
                    + HumanDuration.format(AdderServer.DEFAULT_HANDSHAKE_TIMEOUT) + ")",
            "  --allow-users LIST          over Unix sockets, serve only these users, by the",
            "                              kernel's credentials of each connection, whatever",
            "                              the socket mode: names or numeric ids, comma-separated",
            "                              (default: anyone the socket mode lets in)",
            "  --allow-groups LIST         likewise, processes whose primary (effective) group",
            "                              is one of these; with --allow-users, either admits",
            "  --metrics tcp:HOST:PORT     serve /metrics in the Prometheus text format there",
            "                              (off by default; port 0 picks a free port)",
            "  --jmx-name NAME             the JMX name of the statistics, the same at every",
            "                              start (default " + AdderServer.DEFAULT_JMX_NAME + ")",
            "  --no-jmx                    do not publish statistics as a JMX MBean (else",
            "                              published once a JMX agent runs: jconsole PID)",
            "  -h, --help                  print this help and exit",
            "  -V, --version               print the version and exit",
            "",
            "Options take their value as --opt VALUE or --opt=VALUE.",
            "DURATION is a whole number and a unit: 50us, 250ms, 30s, 5m, 1h.",
            "SIZE is a whole number of bytes, or with k, m or g: 65536, 64k, 1m, 1g.",
            "SIGTERM or SIGINT stops gracefully: it stops accepting, answers every request",
            "received so far (read, or waiting in a connection's kernel receive buffer),",
            "shuts down each connection's output once its answers are written, and closes.",
            "With tls: listeners, SIGHUP reads the TLS files again: new handshakes use them,",
            "connections stay; if they cannot be used, the ones in use stay (one error line).",
            "Without them SIGHUP is logged and ignored; it never stops the daemon.",
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
    int loops = 1;
    Duration idleTimeout = AdderServer.DEFAULT_IDLE_TIMEOUT;
    int maxPendingOutput = AdderServer.DEFAULT_MAX_PENDING_OUTPUT;
    long maxPendingOutputTotal = AdderServer.defaultMaxPendingOutputTotal();
    Duration drainTimeout = AdderServer.DEFAULT_DRAIN_TIMEOUT;
    Duration busyPoll = AdderServer.DEFAULT_BUSY_POLL;
    Duration slowTurnWarning = AdderServer.DEFAULT_SLOW_TURN_WARNING;
    Set<PosixFilePermission> socketMode;
    /** As given, each resolved once by the builder's check; empty: no check. */
    final List<String> allowUsers = new ArrayList<>();
    final List<String> allowGroups = new ArrayList<>();
    boolean jmx = true;
    String jmxName = AdderServer.DEFAULT_JMX_NAME;
    AdderAddress metrics;
    Path tlsCert;
    Path tlsKey;
    Path tlsKeyStore;
    char[] tlsKeyStorePassword = new char[0];
    Path tlsClientCa;
    int maxHandshakes = AdderServer.DEFAULT_MAX_HANDSHAKES;
    Duration handshakeTimeout = AdderServer.DEFAULT_HANDSHAKE_TIMEOUT;
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
                case "--allow-users", "--allow-groups" ->
                        options.set(name, inlineValue != null ? inlineValue : valueAfter(args, ++i, name));
                case "-h", "--help" -> options.help = true;
                case "-V", "--version" -> options.version = true;
                case "--no-jmx" -> options.jmx = false;
                case "--listen", "--loops", "--max-connections", "--idle-timeout", "--max-pending-output",
                        "--max-pending-output-total", "--drain-timeout", "--busy-poll", "--slow-turn-warning", "--socket-mode", "--jmx-name", "--metrics",
                        "--tls-cert", "--tls-key", "--tls-keystore", "--tls-keystore-password-file", "--tls-client-ca",
                        "--max-handshakes", "--handshake-timeout" -> {
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
        if (!options.help && !options.version) {
            options.checkTls();
        }
        if ((!options.allowUsers.isEmpty() || !options.allowGroups.isEmpty())
                && options.listen.stream().noneMatch(AdderAddress::isUnix)) {
            throw new UsageException((options.allowUsers.isEmpty() ? "--allow-groups" : "--allow-users")
                    + " checks Unix-domain connections only, and no --listen is unix:PATH: it would check nothing"
                    + " (TCP clients cannot be told apart this way)");
        }
        return options;
    }

    /** A tls: listener needs keys, from one source; keys need a tls: listener. */
    private void checkTls() throws UsageException {
        boolean tlsListener = listen.stream().anyMatch(AdderAddress::isTls);
        boolean pem = tlsCert != null || tlsKey != null;
        if (pem && tlsKeyStore != null) {
            throw new UsageException("--tls-keystore and --tls-cert/--tls-key are two ways to give the keys: use one");
        }
        if (pem && (tlsCert == null || tlsKey == null)) {
            throw new UsageException(tlsCert == null ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key");
        }
        if (tlsListener && !pem && tlsKeyStore == null) {
            throw new UsageException("a tls: listener needs keys: --tls-cert FILE --tls-key FILE, or --tls-keystore FILE");
        }
        if (!tlsListener && (pem || tlsKeyStore != null || tlsClientCa != null)) {
            throw new UsageException("TLS keys are given but no --listen tls:HOST:PORT");
        }
    }

    private void set(String name, String value) throws UsageException {
        try {
            switch (name) {
                case "--listen" -> listen.add(AdderAddress.parse(value));
                case "--loops" -> loops = (int) wholeNumber(value, 1, AdderServer.MAX_LOOPS);
                case "--max-connections" -> maxConnections = (int) wholeNumber(value, 1, AdderServer.MAX_MAX_CONNECTIONS);
                case "--idle-timeout" -> idleTimeout = duration(value, AdderServer.MIN_IDLE_TIMEOUT, AdderServer.MAX_IDLE_TIMEOUT);
                case "--max-pending-output" -> maxPendingOutput = (int) size(value,
                        AdderServer.MIN_MAX_PENDING_OUTPUT, AdderServer.MAX_MAX_PENDING_OUTPUT);
                case "--max-pending-output-total" -> maxPendingOutputTotal = size(value,
                        AdderServer.MIN_MAX_PENDING_OUTPUT_TOTAL, AdderServer.MAX_MAX_PENDING_OUTPUT_TOTAL);
                case "--drain-timeout" -> drainTimeout = duration(value, Duration.ZERO, AdderServer.MAX_DRAIN_TIMEOUT);
                case "--busy-poll" -> busyPoll = duration(value, Duration.ZERO, AdderServer.MAX_BUSY_POLL);
                case "--slow-turn-warning" -> slowTurnWarning = duration(value, AdderServer.MIN_SLOW_TURN_WARNING,
                        AdderServer.MAX_SLOW_TURN_WARNING);
                case "--socket-mode" -> socketMode = mode(value);
                case "--metrics" -> metrics = MetricsAddress.parse(value);
                case "--tls-cert" -> tlsCert = Path.of(value);
                case "--tls-key" -> tlsKey = Path.of(value);
                case "--tls-keystore" -> tlsKeyStore = Path.of(value);
                case "--tls-keystore-password-file" -> tlsKeyStorePassword = firstLine(Path.of(value));
                case "--tls-client-ca" -> tlsClientCa = Path.of(value);
                case "--max-handshakes" -> maxHandshakes = (int) wholeNumber(value, 1, AdderServer.MAX_MAX_HANDSHAKES);
                case "--handshake-timeout" -> handshakeTimeout = duration(value, AdderServer.MIN_HANDSHAKE_TIMEOUT,
                        AdderServer.MAX_HANDSHAKE_TIMEOUT, false);
                case "--allow-users" -> {
                    List<String> users = list(value);
                    AdderServer.builder().allowUsers(users); // the builder's check: names resolved, with its message
                    allowUsers.addAll(users);
                }
                case "--allow-groups" -> {
                    List<String> groups = list(value);
                    AdderServer.builder().allowGroups(groups);
                    allowGroups.addAll(groups);
                }
                case "--jmx-name" -> {
                    AdderServer.builder().jmxName(value); // the builder's check, with its message
                    jmxName = value;
                }
                default -> throw new IllegalStateException(name);
            }
        } catch (IllegalArgumentException e) {
            throw new UsageException(name + ": " + e.getMessage());
        }
    }

    private static char[] firstLine(Path file) {
        try (BufferedReader reader = Files.newBufferedReader(file)) {
            String line = reader.readLine();
            return line == null ? new char[0] : line.toCharArray();
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": "
                    + (e instanceof NoSuchFileException ? "no such file" : e.getMessage()));
        }
    }

    /** The value of an option given as {@code --opt VALUE}, at {@code args[i]}. */
    private static String valueAfter(String[] args, int i, String name) throws UsageException {
        if (i >= args.length) {
            throw new UsageException(name + " needs a value");
        }
        return args[i];
    }

    /** Comma-separated entries, empty ones kept (for the builder to refuse): "" is no entry at all. */
    private static List<String> list(String value) {
        return value.isEmpty() ? List.of() : Arrays.asList(value.split(",", -1));
    }
}
