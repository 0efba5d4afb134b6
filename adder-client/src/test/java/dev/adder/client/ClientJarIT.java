package dev.adder.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The client's executable jar, run as the README shows it. */
@Timeout(120)
class ClientJarIT {

    private static final Path JAR = Path.of(System.getProperty("adder.client.jar", "target/adder-client-all.jar"));

    @TempDir
    Path dir;

    private record Result(int exitStatus, List<String> stdout, List<String> stderr) {
    }

    private Result run(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar", JAR.toString()));
        command.addAll(List.of(args));
        Path out = Files.createTempFile(dir, "stdout", ".txt");
        Path err = Files.createTempFile(dir, "stderr", ".txt");
        Process process = new ProcessBuilder(command).directory(dir.toFile())
                .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the client did not exit");
        return new Result(process.exitValue(), Files.readAllLines(out), Files.readAllLines(err));
    }

    @Test
    void readmeCommandPrintsTheSumFromAdderSockInTheWorkingDirectory() throws Exception {
        try (AdderServer server = AdderServer.builder().listen(AdderAddress.unix(dir.resolve("adder.sock"))).build()) {
            server.start();
            assertEquals(new Result(0, List.of("17"), List.of()), run("7", "10"));
        }
    }

    @Test
    void connectsOverTcp() throws Exception {
        try (AdderServer server = AdderServer.builder().listen("tcp:127.0.0.1:0").build()) {
            server.start();
            assertEquals(new Result(0, List.of("-12"), List.of()),
                    run("--connect", server.addresses().get(0).toString(), "-5", "-7"));
        }
    }

    @Test
    void noServerExitsOneWithOneLine() throws Exception {
        Result result = run("7", "10");
        assertEquals(1, result.exitStatus());
        assertEquals(List.of("adder-client: cannot connect to unix:adder.sock: no socket file at adder.sock"
                + " (is the server running?)"), result.stderr());
    }

    @Test
    void badNumberExitsTwoWithOneLine() throws Exception {
        assertEquals(new Result(2, List.of(), List.of("adder-client: X is not a signed 64-bit integer: 'seven' (try --help)")),
                run("seven", "10"));
    }
}
