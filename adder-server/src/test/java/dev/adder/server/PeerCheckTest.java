package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * The check of one accepted connection, on real Unix-domain sockets, with
 * the loop's time given by the test: what a refused peer and unreadable
 * credentials do to the connection, the count and the log.
 */
@Timeout(60)
class PeerCheckTest {

    private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

    @TempDir
    Path dir;

    private final Logger logger = (Logger) LoggerFactory.getLogger(PeerCheck.class);
    private final ListAppender<ILoggingEvent> lines = new ListAppender<>();
    private final LoopStats stats = new LoopStats();
    private final List<SocketChannel> opened = new ArrayList<>();
    private ServerSocketChannel listener;
    private AdderAddress address;

    @BeforeEach
    void listen() throws IOException {
        lines.start();
        logger.addAppender(lines);
        address = AdderAddress.unix(dir.resolve("check.sock"));
        listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(address.toSocketAddress());
    }

    @AfterEach
    void close() throws IOException {
        logger.detachAppender(lines);
        for (SocketChannel channel : opened) {
            channel.close();
        }
        listener.close();
    }

    private List<String> warnings() {
        return lines.list.stream().filter(e -> e.getLevel() == Level.WARN).map(ILoggingEvent::getFormattedMessage).toList();
    }

    /** A client connected to the listener, and the server's side of it. */
    private SocketChannel[] connection() throws IOException {
        SocketChannel client = SocketChannel.open(address.toSocketAddress());
        SocketChannel served = listener.accept();
        opened.add(client);
        opened.add(served);
        return new SocketChannel[] {client, served};
    }

    private static boolean closedByTheServer(SocketChannel client) throws IOException {
        return RawClient.wrap(client).readsEndOfStream();
    }

    private static AllowedPeers allowing(String user) {
        return AllowedPeers.NONE.withUsers(List.of(user), AllowedPeers.defaultLookup());
    }

    @Test
    void anAllowedPeerIsLeftOpenAndUncounted() throws IOException {
        int self = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        PeerCheck check = new PeerCheck(allowing(Integer.toString(self)), stats);
        SocketChannel[] connection = connection();
        assertTrue(check.admits(connection[1], address, 0));
        assertTrue(connection[1].isOpen());
        assertEquals(0, stats.refused.get());
        assertEquals(List.of(), warnings());
    }

    @Test
    void aPeerNotAllowedIsClosedCountedAndLoggedOnceInFiveSecondsWithTheCountSoFar() throws IOException {
        PeerCheck check = new PeerCheck(allowing("2147483646"), stats);
        long now = 42 * SECOND;
        for (long at : new long[] {now, now + SECOND, now + 4 * SECOND, now + 5 * SECOND}) {
            SocketChannel[] connection = connection();
            assertFalse(check.admits(connection[1], address, at));
            assertFalse(connection[1].isOpen());
            assertTrue(closedByTheServer(connection[0]));
        }
        assertEquals(4, stats.refused.get());
        List<String> warnings = warnings();
        assertEquals(2, warnings.size(), warnings.toString());
        String self = Files.getOwner(Path.of("/proc/self")).getName();
        String group = Files.readAttributes(Path.of("/proc/self"), PosixFileAttributes.class).group().getName();
        assertEquals("refusing a connection on " + address + " from user " + self + ", group " + group
                + ": only users 2147483646 may connect (1 refused so far)", warnings.get(0));
        assertTrue(warnings.get(1).endsWith("(4 refused so far)"), warnings.get(1));
    }

    @Test
    void credentialsThatCannotBeReadCloseThatConnectionAloneCountedAndLogged() throws IOException {
        List<Exception> failures = List.of(new IOException("no credentials here"),
                new UnsupportedOperationException("SO_PEERCRED"), new IllegalStateException("a bug"));
        int[] next = {0};
        AllowedPeers allowed = allowing("0").readingWith(socket -> {
            Exception failure = failures.get(next[0]++);
            if (failure instanceof IOException io) {
                throw io;
            }
            throw (RuntimeException) failure;
        });
        PeerCheck check = new PeerCheck(allowed, stats);
        for (int i = 0; i < failures.size(); i++) {
            SocketChannel[] connection = connection();
            assertFalse(check.admits(connection[1], address, i * 6 * SECOND));
            assertFalse(connection[1].isOpen());
            assertTrue(closedByTheServer(connection[0]));
        }
        // a stand-in that answers nothing is a failure too
        PeerCheck silent = new PeerCheck(allowing("0").readingWith(socket -> null), stats);
        SocketChannel[] connection = connection();
        assertFalse(silent.admits(connection[1], address, 0));
        assertFalse(connection[1].isOpen());
        assertEquals(4, stats.refused.get());
        assertEquals(List.of(
                "closing a connection on " + address + ": cannot read its peer credentials"
                        + " (java.io.IOException: no credentials here); 1 so far",
                "closing a connection on " + address + ": cannot read its peer credentials"
                        + " (java.lang.UnsupportedOperationException: SO_PEERCRED); 2 so far",
                "closing a connection on " + address + ": cannot read its peer credentials"
                        + " (java.lang.IllegalStateException: a bug); 3 so far",
                "closing a connection on " + address + ": cannot read its peer credentials"
                        + " (java.io.IOException: no peer credentials); 1 so far"), warnings());
    }

    @Test
    void refusalsAndFailuresAreRateLimitedApart() throws IOException {
        int[] calls = {0};
        AllowedPeers allowed = allowing("2147483646").readingWith(socket -> {
            if (calls[0]++ == 0) {
                throw new IOException("once");
            }
            return AllowedPeers.KERNEL.of(socket);
        });
        PeerCheck check = new PeerCheck(allowed, stats);
        assertFalse(check.admits(connection()[1], address, SECOND));
        assertFalse(check.admits(connection()[1], address, SECOND)); // a refusal at the same moment is still told
        assertEquals(2, warnings().size(), warnings().toString());
        assertEquals(2, stats.refused.get());
    }
}
