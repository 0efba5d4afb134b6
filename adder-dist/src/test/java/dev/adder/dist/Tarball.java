package dev.adder.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** The tarball this build made (its path and version passed by failsafe), as the distribution's tests use it. */
final class Tarball {

    static final Path FILE = Path.of(System.getProperty("adder.tarball"));
    static final String VERSION = System.getProperty("adder.version");

    private Tarball() {
    }

    /** Unpacks it into {@code directory} with tar; returns the distribution's directory there. */
    static Path unpack(Path directory) throws IOException, InterruptedException {
        Process tar = new ProcessBuilder("tar", "-xzf", FILE.toString(), "-C", directory.toString())
                .redirectErrorStream(true).start();
        String out = new String(tar.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, tar.waitFor(), out);
        return directory.resolve("adder-" + VERSION);
    }
}
