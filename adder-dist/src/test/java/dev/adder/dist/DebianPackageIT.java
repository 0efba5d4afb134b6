package dev.adder.dist;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.testing.Skip;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The .deb this build made, installed for real with dpkg: its files where the package puts them, the
 * user made by the maintainer scripts and nothing enabled (this machine's systemd need not run);
 * {@code adder-server} run from the PATH as the adder user on a Unix socket in a temporary directory,
 * {@code adder} asking it for 7 + 10; then removed and purged, and what is left checked. Skipped,
 * saying why, unless run as root with dpkg and the package, and without an adder package or an
 * /opt/adder already there (it never touches an install it did not make).
 */
@Timeout(600)
class DebianPackageIT {

    private static final Path TARGET = Path.of(System.getProperty("adder.target"));
    private static final Path OPT = Path.of("/opt/adder");
    private static final Path INSTANCE_CONF = Path.of("/etc/adder/a.conf");

    @TempDir
    Path dir;
    private Process daemon;
    private boolean installed;
    private boolean userWasThere;

    @AfterEach
    void leaveTheMachineAsItWas() throws Exception {
        if (daemon != null && daemon.isAlive()) {
            daemon.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        if (installed) {
            run("dpkg", "--purge", "adder");
            Files.deleteIfExists(INSTANCE_CONF);
            Files.deleteIfExists(INSTANCE_CONF.getParent());
            if (!userWasThere && run("getent", "passwd", "adder").status == 0) {
                run("userdel", "adder");
                run("groupdel", "adder");
            }
        }
    }

    @Test
    void installsRunsTheDaemonAndTheClientRemovesAndPurges() throws Exception {
        Skip.unless("root".equals(System.getProperty("user.name")), "not run as root: the .deb was not installed");
        Skip.unless(Files.isExecutable(Path.of("/usr/bin/dpkg")), "no dpkg on this machine: the .deb was not installed");
        Optional<Path> deb = debianPackage();
        Skip.unless(deb.isPresent(), "the build made no .deb (no dpkg-deb or fakeroot): nothing to install");
        Skip.unless(notInstalled() && Files.notExists(OPT),
                "an adder package or /opt/adder is already on this machine: the .deb was not installed over it");
        userWasThere = run("getent", "passwd", "adder").status == 0;

        installed = true;
        Result install = run("dpkg", "--install", deb.get().toString());
        assertEquals(0, install.status, install.out);
        assertEquals("install ok installed", status());

        // the files where the package puts them: the tarball's tree in /opt/adder, links on the PATH,
        // the units (the same files as the tree's) and the sysusers file
        assertTrue(Files.isExecutable(OPT.resolve("bin/adder-server")));
        assertEquals(OPT.resolve("bin/adder"), Files.readSymbolicLink(Path.of("/usr/bin/adder")));
        assertEquals(OPT.resolve("bin/adder-server"), Files.readSymbolicLink(Path.of("/usr/bin/adder-server")));
        for (String unit : List.of("adder.service", "adder@.service")) {
            assertEquals(Files.readString(OPT.resolve("systemd").resolve(unit)),
                    Files.readString(Path.of("/lib/systemd/system").resolve(unit)), unit);
        }
        assertTrue(Files.isRegularFile(Path.of("/usr/lib/sysusers.d/adder.conf")));
        assertTrue(Files.isRegularFile(OPT.resolve("docs/operations.md")));
        // the maintainer scripts made the system user, and enabled nothing
        String user = run("getent", "passwd", "adder").out;
        assertTrue(user.endsWith(":/nonexistent:/usr/sbin/nologin"), user);
        assertTrue(Files.notExists(Path.of("/etc/systemd/system/multi-user.target.wants/adder.service")));

        // the daemon from the PATH, as the adder user, on a socket in a directory of its own
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x")); // for adder to reach run/
        Path sockets = Files.createDirectory(dir.resolve("run"));
        UserPrincipalLookupService users = sockets.getFileSystem().getUserPrincipalLookupService();
        Files.setOwner(sockets, users.lookupPrincipalByName("adder"));
        Path socket = sockets.resolve("adder.sock");
        Path log = dir.resolve("daemon.log");
        ProcessBuilder start = new ProcessBuilder("setpriv", "--reuid=adder", "--regid=adder", "--init-groups",
                "adder-server", "--listen", "unix:" + socket).directory(sockets.toFile())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        plainEnvironment(start.environment());
        daemon = start.start();
        await().atMost(Duration.ofSeconds(60)).until(() -> Files.readString(log).contains("listening on") || !daemon.isAlive());
        assertTrue(daemon.isAlive(), Files.readString(log));
        if (Files.isExecutable(OPT.resolve("runtime/bin/java"))) { // the package's own runtime, not the build's JDK
            assertEquals(OPT.resolve("runtime/bin/java").toString(), daemon.info().command().orElseThrow());
        }
        assertEquals(users.lookupPrincipalByName("adder"), Files.getOwner(socket, LinkOption.NOFOLLOW_LINKS));

        ProcessBuilder call = new ProcessBuilder("adder", "--connect", "unix:" + socket, "7", "10").redirectErrorStream(true);
        plainEnvironment(call.environment());
        Process client = call.start();
        String answer = new String(client.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, client.waitFor(), answer);
        assertEquals("17", answer);
        daemon.destroy();
        assertTrue(daemon.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, daemon.exitValue(), Files.readString(log));

        // what an operator adds: a logging configuration and a template unit's instance file
        Files.copy(OPT.resolve("conf/logback.xml.example"), OPT.resolve("conf/logback.xml"));
        Files.writeString(INSTANCE_CONF, "ADDER_ARGS=--listen tcp:127.0.0.1:7401\n");

        Result remove = run("dpkg", "--remove", "adder");
        assertEquals(0, remove.status, remove.out);
        assertEquals("deinstall ok config-files", status());
        for (String gone : List.of("/usr/bin/adder", "/usr/bin/adder-server", "/lib/systemd/system/adder.service",
                "/lib/systemd/system/adder@.service", "/usr/lib/sysusers.d/adder.conf", "/opt/adder/bin", "/opt/adder/lib")) {
            assertTrue(Files.notExists(Path.of(gone), LinkOption.NOFOLLOW_LINKS), gone + " is left after remove");
        }
        assertTrue(Files.isRegularFile(OPT.resolve("conf/logback.xml")), "remove keeps what the operator made");

        Result purge = run("dpkg", "--purge", "adder");
        assertEquals(0, purge.status, purge.out);
        assertTrue(notInstalled(), status());
        assertTrue(Files.notExists(OPT), "/opt/adder is left after purge: " + list(OPT));
        // the operator's instance files are kept, and said; the user stays, as is Debian's practice
        assertTrue(Files.isRegularFile(INSTANCE_CONF));
        assertTrue(purge.out.contains("/etc/adder is kept"), purge.out);
        assertEquals(0, run("getent", "passwd", "adder").status);
        // what the test left (the instance file, /etc/adder, the user if it made it) goes after it
    }

    /** The package's status as dpkg knows it ("install ok installed"), or "" when it knows none. */
    private static String status() throws IOException, InterruptedException {
        Result query = run("dpkg-query", "-W", "-f", "${Status}", "adder");
        return query.status == 0 ? query.out : "";
    }

    private static boolean notInstalled() throws IOException, InterruptedException {
        String status = status();
        return status.isEmpty() || status.endsWith(" not-installed");
    }

    private static Optional<Path> debianPackage() throws IOException {
        try (Stream<Path> files = Files.list(TARGET)) {
            return files.filter(f -> f.getFileName().toString().matches("adder_.*\\.deb")).findFirst();
        }
    }

    /** No JAVA_HOME, a PATH of the system's: the package's launchers must find their runtime themselves. */
    private static void plainEnvironment(Map<String, String> env) {
        env.remove("JAVA_HOME");
        env.remove("ADDER_OPTS");
        env.put("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    }

    private static List<String> list(Path directory) throws IOException {
        if (Files.notExists(directory)) {
            return List.of();
        }
        try (Stream<Path> files = Files.walk(directory)) {
            return files.map(Path::toString).collect(Collectors.toCollection(ArrayList::new));
        }
    }

    private record Result(int status, String out) {
    }

    private static Result run(String... command) throws IOException, InterruptedException {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().put("DEBIAN_FRONTEND", "noninteractive");
        Process process = builder.start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(process.waitFor(300, TimeUnit.SECONDS), String.join(" ", command) + " did not end");
        return new Result(process.exitValue(), out);
    }
}
