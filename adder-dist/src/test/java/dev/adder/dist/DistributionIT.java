package dev.adder.dist;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.tools.attach.VirtualMachine;
import dev.adder.testing.Skip;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The tarball as an operator uses it: unpacked, its launchers started, called and stopped by a signal. */
class DistributionIT {

    private static final String VERSION = Tarball.VERSION;
    private static final String JAVA_HOME = System.getProperty("java.home");

    @TempDir
    Path dir;
    private Process daemon;

    @AfterEach
    void stopDaemon() throws InterruptedException {
        if (daemon != null && daemon.isAlive()) {
            daemon.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void unpacksToLaunchersJarsConfigurationAndAUnit() throws Exception {
        Path home = Tarball.unpack(dir);
        for (String file : List.of("bin/adder-server", "bin/adder", "docs/haproxy/rolling-restart.sh")) {
            assertTrue(Files.isExecutable(home.resolve(file)), file);
        }
        for (String file : List.of("conf/logback.xml.example", "README", "LICENSE", "systemd/adder.service",
                "systemd/adder.sysusers", "systemd/adder@.service", "docs/haproxy/haproxy.cfg",
                "docs/haproxy/haproxy-tls.cfg", "docs/operations.md", "docs/haproxy.md", "docs/protocol.md", "README.md",
                "CHANGELOG.md", "lib/adder-server-" + VERSION + ".jar", "lib/adder-client-" + VERSION + ".jar",
                "lib/adder-core-" + VERSION + ".jar")) {
            assertTrue(Files.isRegularFile(home.resolve(file)), file);
        }
        assertTrue(Files.readString(home.resolve("README")).startsWith("Adder " + VERSION + ":"));
        for (String unit : List.of("systemd/adder.service", "systemd/adder@.service")) {
            assertTrue(Files.readString(home.resolve(unit)).contains("ExecStart=/opt/adder/bin/adder-server "), unit);
        }
    }

    @Test
    void theLaunchersServeAndCallAndSigtermStillDrainsAndExitsZero() throws Exception {
        Path home = Tarball.unpack(dir);
        // conf/logback.xml is used when present
        Files.copy(home.resolve("conf/logback.xml.example"), home.resolve("conf/logback.xml"));
        Path stdout = dir.resolve("daemon.out");
        ProcessBuilder start = new ProcessBuilder(home.resolve("bin/adder-server").toString(),
                "--listen", "unix:adder.sock", "--listen", "tcp:127.0.0.1:0")
                .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(stdout.toFile());
        Map<String, String> env = start.environment();
        env.put("JAVA_HOME", JAVA_HOME);
        env.put("ADDER_OPTS", "-XX:+UseSerialGC -Xmx48m");
        env.put("PATH", "/usr/bin:/bin"); // JAVA_HOME decides, whatever java the PATH has
        daemon = start.start();
        await().atMost(Duration.ofSeconds(30))
                .until(() -> Files.readString(stdout).contains("listening on") || !daemon.isAlive());
        String log = Files.readString(stdout);
        Matcher tcp = Pattern.compile("listening on unix:\\S+, (tcp:127\\.0\\.0\\.1:\\d+);").matcher(log);
        assertTrue(tcp.find(), log);
        assertLinesAsTheDaemonWritesThem(log); // logback's own pattern layout, from the XML file

        // exec: the launcher's process is the JVM itself, run with ADDER_OPTS and conf/logback.xml
        List<String> arguments = List.of(daemon.info().arguments().orElseThrow());
        assertEquals(Path.of(JAVA_HOME, "bin", "java").toString(), daemon.info().command().orElseThrow());
        assertTrue(arguments.contains("-Xmx48m"), arguments.toString());
        assertTrue(arguments.contains("-Dlogback.configurationFile=" + home.toRealPath().resolve("conf/logback.xml")),
                arguments.toString());

        assertEquals("17", client(home, "--connect", "unix:" + dir.resolve("adder.sock"), "7", "10"));
        assertEquals("-1", client(home, "--connect", tcp.group(1), "--", "-4", "3"));

        daemon.destroy(); // SIGTERM, to the JVM
        assertTrue(daemon.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, daemon.exitValue(), Files.readString(stdout));
        assertTrue(Files.readString(stdout).contains("adder stopped: 2 requests answered for 2 connections"),
                Files.readString(stdout));
        assertTrue(Files.notExists(dir.resolve("adder.sock")), "the socket file is removed");
    }

    @Test
    void withoutJavaHomeTheLaunchersRunOnTheBundledRuntimeWhenThereIsOne() throws Exception {
        Path home = Tarball.unpack(dir);
        Path runtime = home.resolve("runtime/bin/java");
        Skip.unless(Files.isExecutable(runtime),
                "the tarball has no bundled runtime (the build's JDK had no jmods): test skipped");
        Path stdout = dir.resolve("daemon.out");
        ProcessBuilder start = new ProcessBuilder(home.resolve("bin/adder-server").toString(), "--listen", "unix:adder.sock",
                "--metrics", "tcp:127.0.0.1:0").directory(dir.toFile()).redirectErrorStream(true).redirectOutput(stdout.toFile());
        start.environment().remove("JAVA_HOME");
        start.environment().put("PATH", "/usr/bin:/bin"); // a java there too: the bundled one must be chosen
        daemon = start.start();
        await().atMost(Duration.ofSeconds(30))
                .until(() -> Files.readString(stdout).contains("listening on") || !daemon.isAlive());
        assertEquals(runtime.toRealPath().toString(), daemon.info().command().orElseThrow());
        assertTrue(List.of(daemon.info().arguments().orElseThrow()).stream().noneMatch(a -> a.startsWith("-Dlogback")),
                "no conf/logback.xml, no logback option");
        assertLinesAsTheDaemonWritesThem(Files.readString(stdout)); // the daemon's own layout: the same lines
        // everything the daemon uses is in the runtime's modules: JMX, the JVM metrics' management beans, logback's XML;
        // the JVM metrics make the platform MBean server, so the statistics are registered at once
        assertTrue(Files.readString(stdout).contains("; JMX dev.adder:type=AdderServer; metrics http://127.0.0.1:"),
                Files.readString(stdout));
        // the daemon's module, linked into the runtime; the Prometheus jars from lib/, asked for by --metrics
        List<String> arguments = List.of(daemon.info().arguments().orElseThrow());
        assertTrue(arguments.containsAll(List.of("-m", "dev.adder.server/dev.adder.server.daemon.Main", "--module-path",
                home.toRealPath().resolve("lib").toString())), arguments.toString());
        Matcher metrics = Pattern.compile("metrics (http://127\\.0\\.0\\.1:\\d+/metrics)").matcher(Files.readString(stdout));
        assertTrue(metrics.find(), Files.readString(stdout));
        String scraped = new String(java.net.URI.create(metrics.group(1)).toURL().openStream().readAllBytes(),
                StandardCharsets.UTF_8);
        assertTrue(scraped.contains("adder_requests_total") && scraped.contains("jvm_threads_current"), scraped);
        ProcessBuilder call = new ProcessBuilder(home.resolve("bin/adder").toString(), "--connect",
                "unix:" + dir.resolve("adder.sock"), "7", "10").directory(dir.toFile()).redirectErrorStream(true);
        call.environment().remove("JAVA_HOME");
        call.environment().put("PATH", "/usr/bin:/bin");
        Process client = call.start();
        assertEquals("17", new String(client.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip());
        assertEquals(0, client.waitFor());
        // the statistics can be read from outside, as jconsole does: the runtime has the JMX agent, and the daemon
        // registers them once the agent runs
        VirtualMachine attached = VirtualMachine.attach(Long.toString(daemon.pid()));
        try (JMXConnector jmx = JMXConnectorFactory.connect(new JMXServiceURL(attached.startLocalManagementAgent()))) {
            ObjectName name = new ObjectName("dev.adder:type=AdderServer");
            await().atMost(Duration.ofSeconds(30)).until(() -> jmx.getMBeanServerConnection().isRegistered(name));
            assertEquals(1L, jmx.getMBeanServerConnection().getAttribute(name, "Requests"));
        } finally {
            attached.detach();
        }
        daemon.destroy();
        assertTrue(daemon.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, daemon.exitValue(), Files.readString(stdout));
    }

    @Test
    void theBundledRuntimesArchiveOfTheDaemonsClassesMapsWhereverTheTarballIsUnpacked() throws Exception {
        Path home = Tarball.unpack(dir); // a directory of the test's: not where the build made the archive
        Path java = home.resolve("runtime/bin/java");
        Skip.unless(Files.isExecutable(java),
                "the tarball has no bundled runtime (the build's JDK had no jmods): test skipped");
        // -Xshare:on: a start that cannot map the archive fails instead of running without it
        Process run = new ProcessBuilder(java.toString(), "-Xshare:on", "-Xlog:class+load", "-XX:+UseSerialGC",
                "-m", "dev.adder.server/dev.adder.server.daemon.Main", "--version").redirectErrorStream(true).start();
        String out = new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, run.waitFor(), out);
        assertTrue(out.contains("dev.adder.server.daemon.Main source: shared objects file"), out);
        assertTrue(out.contains("adder-server " + VERSION), out);
    }

    @Test
    void theLaunchersNameThemselvesInTheirUsageAndErrorLines() throws Exception {
        Path home = Tarball.unpack(dir);
        Launch help = launch(home, "bin/adder", Map.of(), "--help");
        assertTrue(help.status == 0 && help.out.startsWith("Usage: adder [OPTION]... X Y" + System.lineSeparator()), help.toString());
        Launch serverHelp = launch(home, "bin/adder-server", Map.of(), "--help");
        assertTrue(serverHelp.status == 0 && serverHelp.out.startsWith("Usage: adder-server [OPTION]..." + System.lineSeparator()),
                serverHelp.toString());
        assertEquals(new Launch(2, "", "adder: X is not a signed 64-bit integer: 'seven' (try --help)"),
                launch(home, "bin/adder", Map.of(), "seven", "10"));
        Launch refused = launch(home, "bin/adder", Map.of(), "--connect", "unix:" + dir.resolve("nobody.sock"), "7", "10");
        assertTrue(refused.status == 1 && refused.err.startsWith("adder: cannot connect to unix:"), refused.toString());
        assertEquals(new Launch(2, "", "adder-server: unknown option --frobnicate (try --help)"),
                launch(home, "bin/adder-server", Map.of(), "--frobnicate"));
    }

    @Test
    void aJavaHomeWithoutAJavaIsOneLineNamingItAndExitStatusOne() throws Exception {
        Path home = Tarball.unpack(dir);
        Path notAJdk = Files.createDirectories(dir.resolve("not-a-jdk/bin"));
        for (String launcher : List.of("adder", "adder-server")) {
            Launch launch = launch(home, "bin/" + launcher, Map.of("JAVA_HOME", notAJdk.getParent().toString()), "--version");
            assertEquals(1, launch.status, launch.toString());
            assertEquals("", launch.out, launch.toString());
            assertTrue(launch.err.startsWith(launcher + ": JAVA_HOME is " + notAJdk.getParent() + ", ")
                    && !launch.err.contains("\n"), launch.toString());
        }
    }

    @Test
    void theJvmFlagsAreSplitAtBlanksAndNeverExpandedToFileNames() throws Exception {
        Path home = Tarball.unpack(dir);
        // a file in the working directory that the flag, as a glob, would match: the flag must reach the JVM as written
        Files.createFile(dir.resolve("-Dadder.program=a-file-name"));
        Launch client = launch(home, "bin/adder", Map.of("ADDER_CLIENT_OPTS", "-XX:+UseSerialGC \t-Dadder.program=*"), "--help");
        assertTrue(client.status == 0 && client.out.startsWith("Usage: * [OPTION]... X Y"), client.toString());
        Launch server = launch(home, "bin/adder-server", Map.of("ADDER_OPTS", "-Xmx48m\n-Dadder.program=*"), "--help");
        assertTrue(server.status == 0 && server.out.startsWith("Usage: * [OPTION]..."), server.toString());
    }

    /** A launcher's exit status and its output and error streams, each stripped. */
    private record Launch(int status, String out, String err) {
    }

    /** Runs a launcher of the distribution in the test's directory, with the test's JVM as JAVA_HOME unless {@code env} says otherwise. */
    private Launch launch(Path home, String launcher, Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> command = new java.util.ArrayList<>(List.of(home.resolve(launcher).toString()));
        command.addAll(List.of(args));
        Path out = dir.resolve("launch.out");
        Path err = dir.resolve("launch.err");
        ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile())
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        builder.environment().put("JAVA_HOME", JAVA_HOME);
        builder.environment().putAll(env);
        Process process = builder.start();
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), launcher + " did not end");
        return new Launch(process.exitValue(), Files.readString(out).strip(), Files.readString(err).strip());
    }

    private String client(Path home, String... args) throws IOException, InterruptedException {
        List<String> command = new java.util.ArrayList<>(List.of(home.resolve("bin/adder").toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true);
        builder.environment().put("JAVA_HOME", JAVA_HOME);
        Process client = builder.start();
        String out = new String(client.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, client.waitFor(), out);
        return out;
    }

    /**
     * The daemon's log lines, whether its own layout or logback's from conf/logback.xml writes them:
     * {@code 2026-12-02T08:21:03.123Z INFO  [main] Main - adder ... listening on ...}, nothing from SLF4J
     * itself (such as which provider it took).
     */
    private static void assertLinesAsTheDaemonWritesThem(String log) {
        assertTrue(Pattern.compile("(?m)^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}(Z|[+-]\\d\\d:\\d\\d) INFO  \\[main\\] Main"
                + " - adder \\S+ listening on ").matcher(log).find(), log);
        assertFalse(log.contains("SLF4J"), log);
    }
}
