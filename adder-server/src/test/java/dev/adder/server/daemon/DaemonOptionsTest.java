package dev.adder.server.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The daemon's command line: every value out of its range is a usage error naming the option and the range. */
class DaemonOptionsTest {

    private static final String METRICS_TAKES = "/metrics is plain HTTP, served on tcp:HOST:PORT or HOST:PORT";

    private static String usageError(String... args) {
        return assertThrows(DaemonOptions.UsageException.class, () -> DaemonOptions.parse(args)).getMessage();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        // values that overflowed a long of nanoseconds, or silently wrapped, or were foot-guns
        "--idle-timeout|9999999999s|--idle-timeout: 9999999999s is out of range: 0, or from 1ms to 720h",
        "--busy-poll|3000000h|--busy-poll: 3000000h is out of range: from 0 to 1ms",
        "--busy-poll|1h|--busy-poll: 1h is out of range: from 0 to 1ms",
        "--drain-timeout|3000000h|--drain-timeout: 3000000h is out of range: from 0 to 1h",
        "--max-pending-output|17592186044417m|--max-pending-output: 17592186044417m is out of range:"
                + " from 64 to 1g bytes, as in 65536, 64k, 1m or 1g",
        "--max-pending-output|2g|--max-pending-output: 2g is out of range: from 64 to 1g bytes, as in 65536, 64k, 1m or 1g",
        "--max-pending-output-total|1k|--max-pending-output-total: 1k is out of range:"
                + " from 64k to 1024g bytes, as in 65536, 64k, 1m or 1g",
        "--max-connections|0|--max-connections: '0' is not a whole number from 1 to 1000000",
        "--max-connections|99999999999|--max-connections: '99999999999' is not a whole number from 1 to 1000000",
        "--socket-mode|4660|--socket-mode: '4660' is not a mode such as 600, 0660 or rw-rw----",
        "--slow-turn-warning|2h|--slow-turn-warning: 2h is out of range: 0, or from 1ms to 1h",
        // --metrics names only the addresses it takes, the TCP ones (a tls: one was once served in plain text)
        "--metrics|unix:metrics.sock|--metrics: 'unix:metrics.sock' is not a TCP address: " + METRICS_TAKES,
        "--metrics|/run/adder/metrics.sock|--metrics: '/run/adder/metrics.sock' is not a TCP address: " + METRICS_TAKES,
        "--metrics|tcp:127.0.0.1|--metrics: 'tcp:127.0.0.1' has no port: " + METRICS_TAKES + " (port 0 picks one)",
        "--metrics|localhost|--metrics: 'localhost' has no port: " + METRICS_TAKES + " (port 0 picks one)",
        "--metrics|tls:127.0.0.1:9100|--metrics: 'tls:127.0.0.1:9100' asks for TLS, which /metrics does not serve: "
                + METRICS_TAKES,
        "--metrics|http:127.0.0.1:9100|--metrics: 'http:127.0.0.1:9100' has an unknown scheme 'http:': " + METRICS_TAKES,
        "--metrics|tcp:127.0.0.1:http|--metrics: invalid adder address 'tcp:127.0.0.1:http': port 'http' is not a number"
                + " from 0 to 65535",
        "--jmx-name|dev.adder:*|--jmx-name: jmxName must name one MBean, not a pattern: dev.adder:*",
    })
    void aValueOutOfRangeIsAUsageErrorNamingTheOptionAndTheRange(String option, String value, String message) {
        assertEquals(message, usageError(option, value));
        assertEquals(message, usageError(option + "=" + value));
    }

    @Test
    void metricsAreServedOnEitherFormOfATcpAddress() throws Exception {
        for (String value : List.of("tcp:127.0.0.1:0", "127.0.0.1:9100", "tcp:[::1]:0", "localhost:9100")) {
            assertEquals(AdderAddress.parse(value), DaemonOptions.parse(new String[] {"--metrics", value}).metrics, value);
        }
    }

    @Test
    void valuesAtTheEdgesOfTheirRangesAreAccepted() throws Exception {
        DaemonOptions options = DaemonOptions.parse(new String[] {"--busy-poll", "1ms", "--idle-timeout", "720h",
            "--drain-timeout", "1h", "--max-pending-output", "1g", "--max-pending-output-total", "64k",
            "--max-connections", "1000000"});
        assertEquals(Duration.ofMillis(1), options.busyPoll);
        assertEquals(Duration.ofDays(30), options.idleTimeout);
        assertEquals(1 << 30, options.maxPendingOutput);
        assertEquals(64 * 1024, options.maxPendingOutputTotal);
        assertEquals(1_000_000, options.maxConnections);
        // and the builder takes every one of them
        AdderServer.builder().listen("tcp:127.0.0.1:0").busyPoll(options.busyPoll).idleTimeout(options.idleTimeout)
                .drainTimeout(options.drainTimeout).maxPendingOutput(options.maxPendingOutput)
                .maxPendingOutputTotal(options.maxPendingOutputTotal).maxConnections(options.maxConnections).build();
    }

    @Test
    void theDefaultBudgetIsAQuarterOfTheHeap() throws Exception {
        assertEquals(Runtime.getRuntime().maxMemory() / 4, DaemonOptions.parse(new String[0]).maxPendingOutputTotal);
    }

    @Test
    void socketModeTakesTheFormChmodUsersType() throws Exception {
        for (String mode : new String[] {"0660", "660", "rw-rw----"}) {
            assertEquals("rw-rw----", PosixFilePermissions.toString(
                    DaemonOptions.parse(new String[] {"--socket-mode", mode}).socketMode));
        }
    }

    @Test
    void aUnixPathTheJdkCannotBindIsAUsageError() {
        String path = "/tmp/" + "p".repeat(102); // 107 bytes: within sun_path, beyond what the JDK binds
        assertEquals("--listen: invalid adder address 'unix:" + path + "': Unix socket path is 107 bytes long,"
                + " longer than the platform's limit of 106 (use a shorter or relative path)", usageError("--listen", "unix:" + path));
    }

    @Test
    void aPathWithANewlineIsAUsageErrorOnOneLine() {
        String message = usageError("--listen", "unix:/tmp/a\nb.sock");
        assertEquals("--listen: invalid adder address 'unix:/tmp/a?b.sock': Unix socket path contains a control character",
                message);
    }

    @Test
    void theDaemonExitsWithStatus2AndOneLineForAValueOutOfRange() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = new Main().run(new String[] {"--busy-poll", "1h"}, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, status);
        assertEquals("adder-server: --busy-poll: 1h is out of range: from 0 to 1ms (try --help)" + System.lineSeparator(),
                err.toString(StandardCharsets.UTF_8));
        assertEquals("", out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void theBuilderRefusesTheSameRangesNamingTheSetting() {
        AdderServer.Builder builder = AdderServer.builder();
        assertEquals("busyPoll must be from 0 to 1ms, not 1h",
                assertThrows(IllegalArgumentException.class, () -> builder.busyPoll(Duration.ofHours(1))).getMessage());
        assertEquals("idleTimeout must be 0 or from 1ms to 720h, not PT2777777H46M39S",
                assertThrows(IllegalArgumentException.class, () -> builder.idleTimeout(Duration.ofSeconds(9999999999L)))
                        .getMessage());
        assertEquals("drainTimeout must be from 0 to 1h, not PT-1S",
                assertThrows(IllegalArgumentException.class, () -> builder.drainTimeout(Duration.ofSeconds(-1))).getMessage());
        assertEquals("maxPendingOutputTotal must be from 65536 bytes to 1099511627776 bytes, not 1024",
                assertThrows(IllegalArgumentException.class, () -> builder.maxPendingOutputTotal(1024)).getMessage());
    }

    @Test
    void tlsKeysAreReadFromTheirOptionsWithATlsListener(@TempDir Path dir) throws Exception {
        DaemonOptions pem = DaemonOptions.parse(new String[] {"--listen", "tls:127.0.0.1:0", "--tls-cert", "chain.pem",
            "--tls-key=key.pem", "--tls-client-ca", "clients.pem", "--max-handshakes", "100000"});
        assertEquals(List.of(AdderAddress.tls("127.0.0.1", 0)), pem.listen);
        assertEquals(Path.of("chain.pem"), pem.tlsCert);
        assertEquals(Path.of("key.pem"), pem.tlsKey);
        assertEquals(Path.of("clients.pem"), pem.tlsClientCa);
        assertEquals(100_000, pem.maxHandshakes);
        assertNull(pem.tlsKeyStore);

        Path password = Files.writeString(dir.resolve("password"), "s3cret word\nsecond line ignored\n");
        DaemonOptions store = DaemonOptions.parse(new String[] {"--listen", "tls:[::1]:8443", "--tls-keystore", "keys.p12",
            "--tls-keystore-password-file", password.toString()});
        assertEquals(Path.of("keys.p12"), store.tlsKeyStore);
        assertArrayEquals("s3cret word".toCharArray(), store.tlsKeyStorePassword, "the file's first line, spaces kept");
        assertEquals(AdderServer.DEFAULT_MAX_HANDSHAKES, store.maxHandshakes);
        // a password file written on Windows, and an empty one
        Files.writeString(password, "crlf\r\n");
        assertArrayEquals("crlf".toCharArray(), DaemonOptions.parse(new String[] {"--listen", "tls:127.0.0.1:0",
            "--tls-keystore", "keys.p12", "--tls-keystore-password-file", password.toString()}).tlsKeyStorePassword);
        Files.writeString(password, "");
        assertArrayEquals(new char[0], DaemonOptions.parse(new String[] {"--listen", "tls:127.0.0.1:0",
            "--tls-keystore", "keys.p12", "--tls-keystore-password-file", password.toString()}).tlsKeyStorePassword);
        assertArrayEquals(new char[0], DaemonOptions.parse(new String[] {"--listen", "tls:127.0.0.1:0",
            "--tls-keystore", "keys.p12"}).tlsKeyStorePassword, "no password file: no password");
    }

    @Test
    void tlsOptionsThatDoNotGoTogetherAreUsageErrors(@TempDir Path dir) {
        assertEquals("a tls: listener needs keys: --tls-cert FILE --tls-key FILE, or --tls-keystore FILE",
                usageError("--listen", "tls:127.0.0.1:0"));
        assertEquals("a tls: listener needs keys: --tls-cert FILE --tls-key FILE, or --tls-keystore FILE",
                usageError("--listen", "tls:127.0.0.1:0", "--tls-client-ca", "clients.pem"));
        assertEquals("--tls-cert needs --tls-key", usageError("--listen", "tls:127.0.0.1:0", "--tls-cert", "c.pem"));
        assertEquals("--tls-key needs --tls-cert", usageError("--listen", "tls:127.0.0.1:0", "--tls-key", "k.pem"));
        assertEquals("--tls-keystore and --tls-cert/--tls-key are two ways to give the keys: use one",
                usageError("--listen", "tls:127.0.0.1:0", "--tls-keystore", "k.p12", "--tls-cert", "c.pem",
                        "--tls-key", "k.pem"));
        for (String[] keys : new String[][] {{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, {"--tls-keystore", "k.p12"},
            {"--tls-client-ca", "clients.pem"}}) {
            assertEquals("TLS keys are given but no --listen tls:HOST:PORT", usageError(keys));
            String[] withTcp = java.util.stream.Stream.concat(java.util.stream.Stream.of("--listen", "tcp:127.0.0.1:0"),
                    java.util.Arrays.stream(keys)).toArray(String[]::new);
            assertEquals("TLS keys are given but no --listen tls:HOST:PORT", usageError(withTcp));
        }
        Path missing = dir.resolve("missing");
        assertEquals("--tls-keystore-password-file: cannot read " + missing + ": no such file",
                usageError("--listen", "tls:127.0.0.1:0", "--tls-keystore", "k.p12", "--tls-keystore-password-file",
                        missing.toString()));
        assertEquals("--tls-cert needs a value", usageError("--listen", "tls:127.0.0.1:0", "--tls-cert"));
    }

    @ParameterizedTest
    @CsvSource({"0", "100001", "-1", "many"})
    void maxHandshakesOutOfItsRangeIsAUsageError(String value) {
        assertEquals("--max-handshakes: '" + value + "' is not a whole number from 1 to 100000",
                usageError("--max-handshakes", value));
    }

    @Test
    void handshakeTimeoutIsADurationFromTenMillisecondsToTenMinutesDefaultTenSeconds() throws Exception {
        assertEquals(AdderServer.DEFAULT_HANDSHAKE_TIMEOUT, DaemonOptions.parse(new String[0]).handshakeTimeout);
        assertEquals(Duration.ofMillis(10), DaemonOptions.parse(new String[] {"--handshake-timeout", "10ms"}).handshakeTimeout);
        assertEquals(Duration.ofMinutes(10), DaemonOptions.parse(new String[] {"--handshake-timeout=10m"}).handshakeTimeout);
    }

    @ParameterizedTest
    @CsvSource({"0", "9ms", "11m", "1h"})
    void handshakeTimeoutOutOfItsRangeIsAUsageErrorAndZeroIsNotOff(String value) {
        assertEquals("--handshake-timeout: " + value + " is out of range: from 10ms to 10m",
                usageError("--handshake-timeout", value));
    }

    @Test
    void helpAndVersionNeedNoKeysForATlsListener() throws Exception {
        assertTrue(DaemonOptions.parse(new String[] {"--listen", "tls:127.0.0.1:0", "--help"}).help);
        assertTrue(DaemonOptions.parse(new String[] {"--listen", "tls:127.0.0.1:0", "-V"}).version);
        for (String option : List.of("--tls-cert FILE", "--tls-key FILE", "--tls-keystore FILE",
                "--tls-keystore-password-file", "--tls-client-ca FILE", "--max-handshakes N", "--handshake-timeout DURATION", "tls:HOST:PORT", "SIGHUP")) {
            assertTrue(DaemonOptions.HELP.contains(option), option);
        }
    }

    @Test
    void theDaemonWithKeysItCannotReadExitsOneWithOneLineNamingTheFile(@TempDir Path dir) {
        Path missing = dir.resolve("chain.pem");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = new Main().run(new String[] {"--listen", "tls:127.0.0.1:0", "--tls-cert", missing.toString(),
            "--tls-key", dir.resolve("key.pem").toString(), "--no-jmx"}, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(1, status);
        assertEquals("adder-server: cannot read the certificates file " + missing + ": no such file"
                + System.lineSeparator(), err.toString(StandardCharsets.UTF_8));
    }
}
