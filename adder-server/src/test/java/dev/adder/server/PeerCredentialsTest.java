package dev.adder.server;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.LoggerFactory;

/**
 * Who may connect over a Unix socket, by the kernel's peer credentials, on
 * real sockets from this process: its own user or group admits it, a list
 * without them refuses it at accept, counted, while other connections are
 * served. Another user's connections, for real: PeerCredentialsAsRootTest.
 */
@Timeout(120)
class PeerCredentialsTest {

    /** An id no system names, and that is not this process's. */
    private static final String STRANGER = "2147483646";

    @TempDir
    Path dir;

    private final Logger logger = (Logger) LoggerFactory.getLogger(Acceptor.class);
    private final ListAppender<ILoggingEvent> lines = new ListAppender<>();

    private Level level;

    @BeforeEach
    void captureStartLines() {
        level = logger.getLevel();
        logger.setLevel(Level.INFO);
        lines.start();
        logger.addAppender(lines);
    }

    @AfterEach
    void stopCapturing() {
        logger.detachAppender(lines);
        logger.setLevel(level);
    }

    private static PosixFileAttributes self() throws IOException {
        return Files.readAttributes(Path.of("/proc/self"), PosixFileAttributes.class);
    }

    /** This process's effective user or group id, {@code "uid"} or {@code "gid"}. */
    private static String selfId(String which) throws IOException {
        return Integer.toString((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:" + which));
    }

    private AdderServer start(UnaryOperator<AdderServer.Builder> settings) throws IOException {
        AdderServer server = settings.apply(AdderServer.builder().listen(AdderAddress.unix(dir.resolve("adder.sock"))))
                .build();
        server.start();
        return server;
    }

    /** Whether the server closed a new connection before answering it: end of stream, or a reset. */
    static boolean refused(AdderAddress address) throws IOException {
        try (RawClient client = RawClient.connect(address)) {
            try {
                client.write(RawClient.request(7, 10));
            } catch (IOException closedAlready) {
                return true;
            }
            return client.readsEndOfStream(); // an answer, had it been served: no wait for a timeout either way
        }
    }

    private static void assertServed(AdderAddress address) throws IOException {
        try (RawClient client = RawClient.connect(address)) {
            assertEquals(17, client.add(7, 10));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"uid", "user name"})
    void itsOwnUserAdmitsAClientByNumberOrName(String form) throws IOException {
        String self = form.equals("uid") ? selfId("uid") : self().owner().getName();
        try (AdderServer server = start(b -> b.allowUsers(STRANGER, self).loops(2))) {
            assertServed(server.addresses().get(0));
            assertEquals(1, server.stats().accepted());
            assertEquals(0, server.stats().refused());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gid", "group name"})
    void itsOwnGroupAdmitsAClientByNumberOrName(String form) throws IOException {
        String self = form.equals("gid") ? selfId("gid") : self().group().getName();
        try (AdderServer server = start(b -> b.allowGroups(List.of(self)))) {
            assertServed(server.addresses().get(0));
        }
    }

    @Test
    void eitherListAdmits() throws IOException {
        String uid = selfId("uid");
        String gid = selfId("gid");
        try (AdderServer server = start(b -> b.allowUsers(STRANGER).allowGroups(gid))) {
            assertServed(server.addresses().get(0));
        }
        try (AdderServer server = start(b -> b.allowUsers(uid).allowGroups(STRANGER))) {
            assertServed(server.addresses().get(0));
        }
    }

    @Test
    void aUserNotAllowedIsClosedAtAcceptAndCountedWhileOthersAreServed() throws IOException {
        try (AdderServer server = start(b -> b.allowUsers(STRANGER).listen("tcp:127.0.0.1:0"))) {
            AdderAddress unix = server.addresses().get(0);
            AdderAddress tcp = server.addresses().get(1);
            try (RawClient before = RawClient.connect(tcp)) {
                assertEquals(3, before.add(1, 2));
                assertTrue(refused(unix));
                await().until(() -> server.stats().refused() == 1);
                assertTrue(refused(unix));
                await().until(() -> server.stats().refused() == 2);
                assertEquals(30, before.add(10, 20), "a connection open meanwhile is still served");
                assertServed(tcp);
            }
            assertEquals(2, server.stats().accepted(), "only the TCP connections were handed to the loop");
            assertTrue(server.isRunning());
        }
    }

    @Test
    void aGroupNotAllowedIsClosedAtAcceptAndCounted() throws IOException {
        try (AdderServer server = start(b -> b.allowGroups(STRANGER))) {
            assertTrue(refused(server.addresses().get(0)));
            await().until(() -> server.stats().refused() == 1);
            assertEquals(0, server.stats().accepted());
            assertEquals(0, server.stats().openConnections());
        }
    }

    @Test
    void theStartSaysWhomEachUnixListenerAdmitsAndWarnsThatTcpIsNotChecked() throws IOException {
        try (AdderServer server = start(b -> b.allowUsers(STRANGER).allowGroups("0").listen("tcp:127.0.0.1:0"))) {
            List<String> info = lines.list.stream().filter(e -> e.getLevel() == Level.INFO)
                    .map(ILoggingEvent::getFormattedMessage).toList();
            List<String> warnings = lines.list.stream().filter(e -> e.getLevel() == Level.WARN)
                    .map(ILoggingEvent::getFormattedMessage).toList();
            assertEquals(List.of(server.addresses().get(0) + " admits only users " + STRANGER
                    + " or groups 0, by the peer credentials of each connection"), info);
            assertEquals(List.of(server.addresses().get(1) + " serves any client that reaches it: the allowed users"
                    + " and groups (users " + STRANGER + " or groups 0) are checked on Unix-domain"
                    + " listeners only"), warnings);
        }
    }
}
