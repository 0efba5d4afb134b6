package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.adder.core.AdderAddress;
import dev.adder.testing.Skip;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Another user's connections, for real: as root, a small Python client is
 * run as other users and groups ({@code setpriv}), through a socket file
 * every user may open (mode 0666), so that only the peer credentials decide.
 * The ids are ones this machine gives no name, so that the kernel's
 * credentials are matched by number; one test uses a named user by its name.
 */
@Timeout(120)
class PeerCredentialsAsRootTest {

    private static final Path SETPRIV = Path.of("/usr/bin/setpriv");
    private static final Path PYTHON = Path.of("/usr/bin/python3");
    /** Connects, asks for 7 + 10, prints the answer, or "closed" if the server closed or reset the connection. */
    private static final String CLIENT = String.join("\n",
            "import socket, struct, sys",
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
            "s.connect(sys.argv[1])",
            "answer = b''",
            "try:",
            "    s.sendall(struct.pack('<qq', 7, 10))",
            "    while len(answer) < 8:",
            "        chunk = s.recv(8 - len(answer))",
            "        if not chunk:",
            "            break",
            "        answer += chunk",
            "except OSError:",
            "    pass",
            "print(struct.unpack('<q', answer)[0] if len(answer) == 8 else 'closed')");

    /** Ids without a name here: a user, the group allowed, another group. */
    private static int user;
    private static int allowedGroup;
    private static int otherGroup;

    @TempDir
    Path dir;

    private final Logger logger = (Logger) LoggerFactory.getLogger(PeerCheck.class);
    private final ListAppender<ILoggingEvent> lines = new ListAppender<>();

    @BeforeAll
    static void onlyAsRootWithSetprivAndPython(@TempDir Path scratch) throws IOException {
        Skip.unless(((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) == 0,
                "connecting as other users needs root");
        Skip.unless(Files.isExecutable(SETPRIV), SETPRIV + " (util-linux) is not installed");
        Skip.unless(Files.isExecutable(PYTHON) && Files.getPosixFilePermissions(PYTHON.toRealPath())
                .contains(PosixFilePermission.OTHERS_EXECUTE), PYTHON + " is not there for every user");
        List<Integer> ids = namelessIds(scratch, 3);
        user = ids.get(0);
        allowedGroup = ids.get(1);
        otherGroup = ids.get(2);
    }

    /** {@code count} numbers that are neither a user's id nor a group's here: the JDK gives them no name. */
    private static List<Integer> namelessIds(Path scratch, int count) throws IOException {
        Path probe = Files.createFile(scratch.resolve("probe"));
        List<Integer> ids = new ArrayList<>();
        for (int id = 4242; ids.size() < count && id < 5242; id++) {
            Files.setAttribute(probe, "unix:uid", id);
            Files.setAttribute(probe, "unix:gid", id);
            if (Files.getOwner(probe).getName().equals(Integer.toString(id)) && Files.getAttribute(probe, "unix:group")
                    .toString().equals(Integer.toString(id))) {
                ids.add(id);
            }
        }
        Skip.unless(ids.size() == count, "no " + count + " ids without a name from 4242 to 5241");
        return ids;
    }

    @BeforeEach
    void captureWarnings() throws IOException {
        lines.start();
        logger.addAppender(lines);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x")); // others may reach the socket
    }

    @AfterEach
    void stopCapturing() {
        logger.detachAppender(lines);
    }

    private AdderServer start(UnaryOperator<AdderServer.Builder> settings) throws IOException {
        AdderServer server = settings.apply(AdderServer.builder().listen(AdderAddress.unix(dir.resolve("adder.sock")))
                .unixSocketPermissions(PosixFilePermissions.fromString("rw-rw-rw-"))).build();
        server.start();
        return server;
    }

    /** What the client prints, run with {@code setpriv} options such as {@code --reuid=N}: "17" or "closed". */
    private static String connectAs(AdderServer server, String... setpriv) throws Exception {
        List<String> command = new ArrayList<>(List.of(SETPRIV.toString()));
        command.addAll(List.of(setpriv));
        command.addAll(List.of(PYTHON.toString(), "-I", "-c", CLIENT, server.addresses().get(0).unixPath().toString()));
        Process process = new ProcessBuilder(command).directory(Path.of("/").toFile()).start();
        process.getOutputStream().close();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("the client did not end: " + command);
        }
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertEquals(0, process.exitValue(), "the client failed: " + err);
        return out;
    }

    @Test
    void anotherUserIsRefusedWhateverTheSocketModeAndItsIdsAreLogged() throws Exception {
        try (AdderServer server = start(b -> b.allowUsers("0"))) {
            assertEquals("closed", connectAs(server, "--reuid=" + user, "--regid=" + otherGroup, "--clear-groups"));
            await().until(() -> server.stats().refused() == 1);
            try (RawClient root = RawClient.connect(server.addresses().get(0))) {
                assertEquals(17, root.add(7, 10), "the allowed user is served");
            }
            assertEquals(1, server.stats().accepted());
            assertEquals(List.of("refusing a connection on " + server.addresses().get(0) + " from user " + user
                    + ", group " + otherGroup + ": only users 0 may connect (1 refused so far)"),
                    lines.list.stream().filter(e -> e.getLevel() == Level.WARN).map(ILoggingEvent::getFormattedMessage)
                            .toList());
        }
    }

    @Test
    void anAllowedPrimaryGroupAdmitsAnotherUser() throws Exception {
        try (AdderServer server = start(b -> b.allowGroups(Integer.toString(allowedGroup)))) {
            assertEquals("17", connectAs(server, "--reuid=" + user, "--regid=" + allowedGroup, "--clear-groups"));
            assertEquals("closed", connectAs(server, "--reuid=" + user, "--regid=" + otherGroup, "--clear-groups"));
            await().until(() -> server.stats().refused() == 1);
        }
    }

    @Test
    void aUserIdWithoutANameAdmitsThatUser() throws Exception {
        try (AdderServer server = start(b -> b.allowUsers(Integer.toString(user)))) {
            assertEquals("17", connectAs(server, "--reuid=" + user, "--regid=" + otherGroup, "--clear-groups"));
        }
    }

    @Test
    void anAllowedGroupAmongTheSupplementaryOnesAloneDoesNotAdmit() throws Exception {
        // as documented: SO_PEERCRED carries the effective gid only
        try (AdderServer server = start(b -> b.allowGroups(Integer.toString(allowedGroup)))) {
            assertEquals("closed", connectAs(server, "--reuid=" + user, "--regid=" + otherGroup,
                    "--groups=" + allowedGroup));
            await().until(() -> server.stats().refused() == 1);
        }
    }

    @Test
    void aUserAllowedByNameIsTheUserTheKernelNames() throws Exception {
        Path probe = Files.createFile(dir.resolve("probe"));
        Files.setAttribute(probe, "unix:uid", 65534);
        String name = Files.getOwner(probe).getName();
        Skip.unless(!name.equals("65534"), "uid 65534 has no name here");
        try (AdderServer server = start(b -> b.allowUsers(name))) {
            assertEquals("17", connectAs(server, "--reuid=65534", "--regid=" + otherGroup, "--clear-groups"));
            assertEquals("closed", connectAs(server, "--reuid=" + user, "--regid=" + otherGroup, "--clear-groups"));
            await().until(() -> server.stats().refused() == 1);
            assertTrue(server.isRunning());
        }
    }
}
