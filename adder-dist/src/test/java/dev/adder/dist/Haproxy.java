package dev.adder.dist;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * HAProxy as the recipe's tests run it: the binary, found as the tests find
 * it; the recipe adapted to a test's directory; the process, started on that
 * configuration in the foreground; and its runtime API on the admin socket.
 */
final class Haproxy {

    /** The backend of the recipe's configurations. */
    static final String BACKEND = "adders";

    private final Process process;
    private final Path admin;

    private Haproxy(Process process, Path admin) {
        this.process = process;
        this.admin = admin;
    }

    /** The haproxy binary on the PATH, or in /usr/sbin or /usr/local/sbin (where Debian puts it). */
    static Optional<Path> binary() {
        List<String> directories = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)));
        directories.add("/usr/sbin");
        directories.add("/usr/local/sbin");
        return directories.stream().filter(d -> !d.isEmpty()).map(d -> Path.of(d, "haproxy"))
                .filter(Files::isExecutable).findFirst();
    }

    /** The recipe with each of its site-specific strings replaced; each must be found. */
    static String adapt(String recipe, Map<String, String> replacements) {
        String adapted = recipe;
        for (Map.Entry<String, String> replacement : replacements.entrySet()) {
            assertTrue(adapted.contains(replacement.getKey()), "the recipe no longer has: " + replacement.getKey());
            adapted = adapted.replace(replacement.getKey(), replacement.getValue());
        }
        return adapted;
    }

    /** HAProxy in the foreground on {@code config}, its output in {@code log}, its runtime API on {@code admin}. */
    static Haproxy start(Path binary, Path config, Path admin, Path log) throws IOException {
        Process process = new ProcessBuilder(binary.toString(), "-f", config.toString(), "-db")
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new Haproxy(process, admin);
    }

    /** One command of the runtime API, on a connection of its own; its whole answer. */
    String command(String command) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(admin));
            channel.write(ByteBuffer.wrap((command + "\n").getBytes(StandardCharsets.US_ASCII)));
            return new String(Channels.newInputStream(channel).readAllBytes(), StandardCharsets.US_ASCII);
        }
    }

    /** The status column of a server of the backend: UP, DOWN, DRAIN, "UP 1/2", ... */
    String status(String server) throws IOException {
        return field(server, "status");
    }

    /** Sessions open to a server of the backend (scur). */
    long sessions(String server) throws IOException {
        return Long.parseLong(field(server, "scur"));
    }

    /** A column of the server's line in {@code show stat}, by the name its header gives it. */
    String field(String server, String name) throws IOException {
        String[] lines = command("show stat").split("\n");
        List<String> header = List.of(lines[0].replaceFirst("^# ", "").split(",", -1));
        int column = header.indexOf(name);
        if (column < 0) {
            throw new IllegalStateException("no column " + name + " in HAProxy's stats: " + header);
        }
        for (String line : lines) {
            String[] fields = line.split(",", -1);
            if (fields.length > column && fields[0].equals(BACKEND) && fields[1].equals(server)) {
                return fields[column];
            }
        }
        throw new IllegalStateException("no server " + server + " in HAProxy's stats");
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** SIGKILL, and waits for the end. */
    void kill() throws InterruptedException {
        process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
}
