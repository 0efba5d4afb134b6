package dev.adder.testing;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * Runs a command line's code in the test's JVM, as {@code main} would run it,
 * and keeps what it prints: the daemon's and the client's command-line tests
 * call each tool through one of these.
 */
public final class CommandLineHarness {

    /** A tool's entry point that prints to the streams it is given and returns its exit status. */
    @FunctionalInterface
    public interface Program {
        int run(String[] args, PrintStream out, PrintStream err);
    }

    private final Program program;
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    public CommandLineHarness(Program program) {
        this.program = program;
    }

    /** Runs the tool with {@code args} and returns its exit status; what it prints adds to what is kept. */
    public int run(String... args) {
        return program.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    /** What the runs printed on standard output since the last {@link #reset()}. */
    public String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    /** What the runs printed on standard error since the last {@link #reset()}. */
    public String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    /** Forgets what was printed, for the next run to be read alone. */
    public void reset() {
        out.reset();
        err.reset();
    }
}
