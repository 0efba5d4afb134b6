package dev.adder.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Daemons of the unpacked tarball, by name, each started with its own
 * arguments (the same at every start) and appending to its own log. Only the
 * processes started here are ever signalled, and {@link #killAll} kills those left.
 */
final class Daemons {

    private final Path home;
    private final Path dir;
    private final String javaHome;
    private final Map<String, List<String>> arguments = new LinkedHashMap<>();
    private final Map<String, Process> running = new ConcurrentHashMap<>();

    /**
     * @param home the unpacked distribution
     * @param dir the working directory of the daemons, where their logs go
     * @param javaHome the JAVA_HOME the launcher is given, or null for none: the launcher then runs the
     *     distribution's own runtime when it has one, as a systemd unit does
     */
    Daemons(Path home, Path dir, String javaHome) {
        this.home = home;
        this.dir = dir;
        this.javaHome = javaHome;
    }

    /** Names a daemon and the arguments of {@code bin/adder-server} it is started with. */
    void define(String name, String... args) {
        arguments.put(name, List.of(args));
    }

    /** The names defined, in their order. */
    Set<String> names() {
        return arguments.keySet();
    }

    void start(String name) throws IOException {
        List<String> command = new ArrayList<>(List.of(home.resolve("bin/adder-server").toString()));
        command.addAll(arguments.get(name));
        ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log(name).toFile()));
        if (javaHome == null) {
            builder.environment().remove("JAVA_HOME");
        } else {
            builder.environment().put("JAVA_HOME", javaHome);
        }
        running.put(name, builder.start());
    }

    Process process(String name) {
        return running.get(name);
    }

    Path log(String name) {
        return dir.resolve(name + ".log");
    }

    String logText(String name) throws IOException {
        return Files.readString(log(name));
    }

    /** Sends a signal (STOP, CONT, HUP ...) to the daemon's process, with kill(1). */
    void signal(String name, String signal) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(running.get(name).pid())).inheritIO().start();
        assertEquals(0, kill.waitFor());
    }

    /** SIGTERM, as systemd stops a unit: the daemon must exit 0 within a minute. */
    void stop(String name) throws IOException, InterruptedException {
        Process daemon = running.get(name);
        daemon.destroy();
        assertTrue(daemon.waitFor(60, TimeUnit.SECONDS), name + " did not stop");
        assertEquals(0, daemon.exitValue(), name + " exit status\n" + logText(name));
    }

    /** SIGKILL to each daemon still running, waiting for its end. */
    void killAll() throws InterruptedException {
        for (Process daemon : running.values()) {
            daemon.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }
}
