package dev.adder.server.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.testing.CommandLineHarness;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The command-line conformance both tools pass (the client's: its MainTest):
 * -h/--help, -V/--version, --opt VALUE and --opt=VALUE, one-line usage errors
 * naming the option, exit status 2.
 */
class DaemonCommandLineTest {

    private final CommandLineHarness daemon = new CommandLineHarness((args, out, err) -> new Main().run(args, out, err));

    @Test
    void dashHAndDashDashHelpPrintTheUsageAndExitZero() {
        for (String help : new String[] {"-h", "--help"}) {
            daemon.reset();
            assertEquals(0, daemon.run(help));
            assertTrue(daemon.out().startsWith("Usage: "), help + ": " + daemon.out());
            assertEquals("", daemon.err());
        }
    }

    @Test
    void dashCapitalVAndDashDashVersionPrintOneLineAndExitZero() {
        for (String version : new String[] {"-V", "--version"}) {
            daemon.reset();
            assertEquals(0, daemon.run(version));
            assertTrue(daemon.out().matches("adder-server \\d+\\.\\d+\\.\\d+\\S*" + System.lineSeparator()), version + ": " + daemon.out());
            assertEquals("", daemon.err());
        }
    }

    @Test
    void anOptionTakesItsValueAfterASpaceOrAnEqualsSign() throws Exception {
        DaemonOptions spaced = DaemonOptions.parse(new String[] {"--drain-timeout", "2s", "--listen", "unix:a.sock"});
        DaemonOptions joined = DaemonOptions.parse(new String[] {"--drain-timeout=2s", "--listen=unix:a.sock"});
        assertEquals(Duration.ofSeconds(2), spaced.drainTimeout);
        assertEquals(spaced.drainTimeout, joined.drainTimeout);
        assertEquals(spaced.listen, joined.listen);
    }

    @Test
    void aBadValueNamesTheOptionTheSameWayInBothForms() {
        assertEquals(2, daemon.run("--drain-timeout", "soon"));
        assertEquals(2, daemon.run("--drain-timeout=soon"));
        String line = "adder-server: --drain-timeout: invalid duration 'soon': expected a whole number and a unit,"
                + " as in 50us, 250ms, 30s, 5m or 1h (try --help)" + System.lineSeparator();
        assertEquals(line + line, daemon.err());
    }

    @Test
    void aBadHandshakeTimeoutIsOneLineAndExitsTwo() {
        assertEquals(2, daemon.run("--handshake-timeout", "soon"));
        assertEquals("adder-server: --handshake-timeout: invalid duration 'soon': expected a whole number and a unit,"
                + " as in 50us, 250ms, 30s, 5m or 1h (try --help)" + System.lineSeparator(), daemon.err());
        daemon.reset();
        assertEquals(2, daemon.run("--handshake-timeout=0"));
        assertEquals("adder-server: --handshake-timeout: 0 is out of range: from 10ms to 10m (try --help)"
                + System.lineSeparator(), daemon.err());
    }

    @Test
    void anOptionWithoutItsValueIsOneLineAndExitsTwo() {
        assertEquals(2, daemon.run("--drain-timeout"));
        assertEquals("adder-server: --drain-timeout needs a value (try --help)" + System.lineSeparator(), daemon.err());
    }

    @Test
    void anUnknownOptionIsOneLineAndExitsTwo() {
        assertEquals(2, daemon.run("--frobnicate"));
        assertEquals("adder-server: unknown option --frobnicate (try --help)" + System.lineSeparator(), daemon.err());
    }

    @Test
    void aBarePathIsASocketFile() throws Exception {
        assertEquals("unix:/tmp/x.sock", DaemonOptions.parse(new String[] {"--listen", "/tmp/x.sock"}).listen.get(0).toString());
    }
}
