package dev.adder.server.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The command-line conformance both tools pass (the client's: its MainTest):
 * -h/--help, -V/--version, --opt VALUE and --opt=VALUE, one-line usage errors
 * naming the option, exit status 2.
 */
class DaemonCommandLineTest {

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private int run(String... args) {
        return new Main().run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void dashHAndDashDashHelpPrintTheUsageAndExitZero() {
        for (String help : new String[] {"-h", "--help"}) {
            out.reset();
            assertEquals(0, run(help));
            assertTrue(out().startsWith("Usage: "), help + ": " + out());
            assertEquals("", err());
        }
    }

    @Test
    void dashCapitalVAndDashDashVersionPrintOneLineAndExitZero() {
        for (String version : new String[] {"-V", "--version"}) {
            out.reset();
            assertEquals(0, run(version));
            assertTrue(out().matches("adder-server \\d+\\.\\d+\\.\\d+\\S*" + System.lineSeparator()), version + ": " + out());
            assertEquals("", err());
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
        assertEquals(2, run("--drain-timeout", "soon"));
        assertEquals(2, run("--drain-timeout=soon"));
        String line = "adder-server: --drain-timeout: invalid duration 'soon': expected a whole number and a unit,"
                + " as in 50us, 250ms, 30s, 5m or 1h (try --help)" + System.lineSeparator();
        assertEquals(line + line, err());
    }

    @Test
    void anOptionWithoutItsValueIsOneLineAndExitsTwo() {
        assertEquals(2, run("--drain-timeout"));
        assertEquals("adder-server: --drain-timeout needs a value (try --help)" + System.lineSeparator(), err());
    }

    @Test
    void anUnknownOptionIsOneLineAndExitsTwo() {
        assertEquals(2, run("--frobnicate"));
        assertEquals("adder-server: unknown option --frobnicate (try --help)" + System.lineSeparator(), err());
    }

    @Test
    void aBarePathIsASocketFile() throws Exception {
        assertEquals("unix:/tmp/x.sock", DaemonOptions.parse(new String[] {"--listen", "/tmp/x.sock"}).listen.get(0).toString());
    }
}
