package dev.adder.server.daemon;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.Protocol;
import dev.adder.testing.CommandLineHarness;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** --allow-users and --allow-groups: names and ids, resolved as the options are read; each bad entry is a usage error. */
@Timeout(120)
class DaemonAllowListTest {

    @TempDir
    Path dir;

    private final CommandLineHarness daemon = new CommandLineHarness((args, out, err) -> new Main().run(args, out, err));

    private static String usageError(String... args) {
        return assertThrows(DaemonOptions.UsageException.class, () -> DaemonOptions.parse(args)).getMessage();
    }

    private static PosixFileAttributes self() throws IOException {
        return Files.readAttributes(Path.of("/proc/self"), PosixFileAttributes.class);
    }

    @Test
    void namesAndNumericIdsCommaSeparatedAndRepeatedAddUp() throws Exception {
        String user = self().owner().getName();
        String group = self().group().getName();
        DaemonOptions options = DaemonOptions.parse(new String[] {"--allow-users", user + ",2147483646",
            "--allow-users=0", "--allow-groups", group, "--allow-groups=2147483645,0"});
        assertEquals(List.of(user, "2147483646", "0"), options.allowUsers);
        assertEquals(List.of(group, "2147483645", "0"), options.allowGroups);
        assertEquals("unix:adder.sock", options.listen.get(0).toString(), "the default listener is a Unix socket");
    }

    @Test
    void withoutTheOptionsNobodyIsChecked() throws Exception {
        DaemonOptions options = DaemonOptions.parse(new String[0]);
        assertEquals(List.of(), options.allowUsers);
        assertEquals(List.of(), options.allowGroups);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
        "no-such-user-of-adder-tests|unknown user 'no-such-user-of-adder-tests'",
        "0,no-such-user-of-adder-tests|unknown user 'no-such-user-of-adder-tests'",
        "\"\"|an empty list of users: give at least one user name or id",
        "0,|an empty user name in the list of users",
        ",0|an empty user name in the list of users",
        "-1|'-1' is not a user id from 0 to 2147483647",
        "4294967294|'4294967294' is not a user id from 0 to 2147483647",
    })
    void aBadUserOrGroupIsAUsageErrorNamingTheOptionAndTheEntry(String value, String message) {
        assertEquals("--allow-users: " + message, usageError("--allow-users", value));
        assertEquals("--allow-users: " + message, usageError("--allow-users=" + value));
        String forGroups = message.replace("user ", "group ").replace("users", "groups");
        assertEquals("--allow-groups: " + forGroups, usageError("--allow-groups", value));
    }

    @Test
    void onlyTcpListenersAreAUsageError() {
        assertEquals("--allow-users checks Unix-domain connections only, and no --listen is unix:PATH: it would check"
                + " nothing (TCP clients cannot be told apart this way)",
                usageError("--listen", "tcp:127.0.0.1:0", "--allow-users", "0"));
        assertEquals("--allow-groups checks Unix-domain connections only, and no --listen is unix:PATH: it would check"
                + " nothing (TCP clients cannot be told apart this way)",
                usageError("--allow-groups", "0", "--listen", "tcp:127.0.0.1:0", "--listen", "localhost:0"));
    }

    @Test
    void anUnknownNameExitsTwoWithOneLine() {
        assertEquals(2, daemon.run("--allow-groups", "no-such-group-of-adder-tests"));
        assertEquals("adder-server: --allow-groups: unknown group 'no-such-group-of-adder-tests' (try --help)"
                + System.lineSeparator(), daemon.err());
        assertEquals("", daemon.out());
    }

    @Test
    void theHelpListsBothOptions() {
        assertEquals(0, daemon.run("--help"));
        assertTrue(daemon.out().contains("--allow-users LIST"), daemon.out());
        assertTrue(daemon.out().contains("--allow-groups LIST"), daemon.out());
    }

    @Test
    void theDaemonServesOverItsSocketOnlyThoseAllowed() throws Exception {
        String self = Integer.toString((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
        assertTrue(served("--allow-users", self), "its own user");
        assertTrue(served("--allow-users", "2147483646", "--allow-groups", self().group().getName()), "its own group");
        assertFalse(served("--allow-users", "2147483646,2147483645"), "a list without it");
    }

    /** Whether a daemon run with these options answers a client of this process over its socket file. */
    private boolean served(String... allow) throws Exception {
        Path socket = dir.resolve("adder.sock");
        List<String> args = new ArrayList<>(List.of("--listen", "unix:" + socket, "--no-jmx"));
        args.addAll(List.of(allow));
        Main daemon = new Main(status -> { });
        PrintStream discard = new PrintStream(OutputStream.nullOutputStream());
        ExecutorService runner = Executors.newSingleThreadExecutor();
        try {
            Future<Integer> status = runner.submit(() -> daemon.run(args.toArray(String[]::new), discard, discard));
            await().until(() -> Files.exists(socket, LinkOption.NOFOLLOW_LINKS) || status.isDone());
            try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
                ByteBuffer request = ByteBuffer.allocate(Protocol.REQUEST_BYTES);
                Protocol.encodeRequest(request, 7, 10);
                client.write(request.flip());
                ByteBuffer answer = ByteBuffer.allocate(Protocol.RESPONSE_BYTES).order(Protocol.BYTE_ORDER);
                while (answer.hasRemaining()) {
                    if (client.read(answer) < 0) {
                        return false;
                    }
                }
                assertEquals(17, Protocol.decodeResponse(answer.flip()));
                return true;
            } catch (IOException reset) {
                return false;
            } finally {
                daemon.stop();
                assertEquals(0, status.get(60, TimeUnit.SECONDS));
            }
        } finally {
            runner.shutdownNow();
        }
    }
}
