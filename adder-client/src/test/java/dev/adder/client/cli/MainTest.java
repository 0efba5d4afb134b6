package dev.adder.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import dev.adder.testing.CommandLineHarness;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {

    @TempDir
    Path dir;

    private AdderServer server;
    private final CommandLineHarness client = new CommandLineHarness(Main::run);

    @BeforeEach
    void startServer() throws IOException {
        server = AdderServer.builder().listen(AdderAddress.unix(dir.resolve("adder.sock")))
                .listen("tcp:127.0.0.1:0").build();
        server.start();
    }

    @AfterEach
    void stopServer() {
        server.close();
    }

    @Test
    void printsTheSumOverAUnixSocket() {
        assertEquals(0, client.run("--connect", "unix:" + dir.resolve("adder.sock"), "7", "10"));
        assertEquals("17" + System.lineSeparator(), client.out());
        assertEquals("", client.err());
    }

    @Test
    void printsTheSumOverTcpWithNegativeNumbers() {
        assertEquals(0, client.run("--connect", server.addresses().get(1).toString(), "-5", "-7"));
        assertEquals("-12" + System.lineSeparator(), client.out());
    }

    @Test
    void wrapsAroundOnOverflow() {
        assertEquals(0, client.run("--connect", "unix:" + dir.resolve("adder.sock"), "9223372036854775807", "1"));
        assertEquals("-9223372036854775808" + System.lineSeparator(), client.out());
    }

    @Test
    void helpPrintsUsageAndExitsZero() {
        assertEquals(0, client.run("--help"));
        assertTrue(client.out().startsWith("Usage: java -jar adder-client-all.jar [OPTION]... X Y"), client.out());
    }

    @Test
    void badNumberIsOneLineAndExitsTwo() {
        assertEquals(2, client.run("--connect", "unix:" + dir.resolve("adder.sock"), "7", "ten"));
        assertEquals("adder-client: Y is not a signed 64-bit integer: 'ten' (try --help)" + System.lineSeparator(), client.err());
        assertEquals("", client.out());
    }

    @Test
    void numberOutOfRangeExitsTwo() {
        assertEquals(2, client.run("9223372036854775808", "1"));
        assertEquals("adder-client: X is not a signed 64-bit integer: '9223372036854775808' (try --help)"
                + System.lineSeparator(), client.err());
    }

    @Test
    void missingArgumentExitsTwo() {
        assertEquals(2, client.run("7"));
        assertEquals("adder-client: missing Y (try --help)" + System.lineSeparator(), client.err());
    }

    @Test
    void unknownOptionExitsTwo() {
        assertEquals(2, client.run("--verbose", "1", "2"));
        assertEquals("adder-client: unknown option --verbose (try --help)" + System.lineSeparator(), client.err());
    }

    @Test
    void badAddressExitsTwo() {
        assertEquals(2, client.run("--connect", "tcp:localhost", "1", "2"));
        assertEquals("adder-client: --connect: invalid adder address 'tcp:localhost': expected unix:PATH, tcp:HOST:PORT, tls:HOST:PORT or HOST:PORT"
                + " (try --help)" + System.lineSeparator(), client.err());
    }

    @Test
    void unreachableServerIsOneLineAndExitsOne() {
        Path nobody = dir.resolve("nobody.sock");
        assertEquals(1, client.run("--connect", "unix:" + nobody, "1", "2"));
        assertEquals("adder-client: cannot connect to unix:" + nobody + ": no socket file at " + nobody
                + " (is the server running?)" + System.lineSeparator(), client.err());
        assertEquals("", client.out());
    }

    @Test
    void aTimeoutBeyondItsRangeIsAUsageError() {
        assertEquals(Main.USAGE, client.run("--timeout", "3000000h", "7", "10"));
        assertEquals("adder-client: --timeout: 3000000h is out of range: from 1ms to 24h (try --help)"
                + System.lineSeparator(), client.err());
    }

    // ---- the command-line conformance both tools pass (the server's: DaemonCommandLineTest)

    @Test
    void dashHAndDashDashHelpPrintTheUsageAndExitZero() {
        for (String help : new String[] {"-h", "--help"}) {
            client.reset();
            assertEquals(0, client.run(help));
            assertTrue(client.out().startsWith("Usage: "), help + ": " + client.out());
            assertEquals("", client.err());
        }
    }

    @Test
    void dashCapitalVAndDashDashVersionPrintOneLineAndExitZero() {
        for (String version : new String[] {"-V", "--version"}) {
            client.reset();
            assertEquals(0, client.run(version));
            assertTrue(client.out().matches("adder-client \\d+\\.\\d+\\.\\d+\\S*" + System.lineSeparator()), version + ": " + client.out());
            assertEquals("", client.err());
        }
    }

    @Test
    void anOptionTakesItsValueAfterASpaceOrAnEqualsSign() {
        String address = "unix:" + dir.resolve("adder.sock");
        assertEquals(0, client.run("--connect", address, "--timeout", "2s", "7", "10"));
        assertEquals(0, client.run("--connect=" + address, "--timeout=2s", "7", "10"));
        assertEquals("17" + System.lineSeparator() + "17" + System.lineSeparator(), client.out());
    }

    @Test
    void aBadValueNamesTheOptionTheSameWayInBothForms() {
        assertEquals(2, client.run("--timeout", "soon", "1", "2"));
        assertEquals(2, client.run("--timeout=soon", "1", "2"));
        String line = "adder-client: --timeout: invalid duration 'soon': expected a whole number and a unit,"
                + " as in 50us, 250ms, 30s, 5m or 1h (try --help)" + System.lineSeparator();
        assertEquals(line + line, client.err());
    }

    @Test
    void anOptionWithoutItsValueIsOneLineAndExitsTwo() {
        assertEquals(2, client.run("--timeout"));
        assertEquals("adder-client: --timeout needs a value (try --help)" + System.lineSeparator(), client.err());
    }

    @Test
    void aBarePathIsASocketFile() {
        assertEquals(0, client.run("--connect", dir.resolve("adder.sock").toString(), "1", "2"));
        assertEquals("3" + System.lineSeparator(), client.out());
    }
}
