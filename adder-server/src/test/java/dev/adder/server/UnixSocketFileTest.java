package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.net.BindException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class UnixSocketFileTest {

    @TempDir
    Path dir;

    private Path socket() {
        return dir.resolve("adder.sock");
    }

    private AdderServer server(Path path) {
        return AdderServer.builder().listen(AdderAddress.unix(path)).build();
    }

    @Test
    void staleSocketFileOfADeadServerIsReplaced() throws IOException {
        // a socket file whose server is gone: bound, then closed without removing the file
        try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            dead.bind(UnixDomainSocketAddress.of(socket()));
        }
        assertTrue(Files.exists(socket(), LinkOption.NOFOLLOW_LINKS));
        try (AdderServer server = server(socket())) {
            server.start();
            try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                assertEquals(17, client.add(7, 10));
            }
        }
    }

    @Test
    void liveServersPathIsRefusedNotStolen() throws IOException {
        try (AdderServer live = server(socket())) {
            live.start();
            AdderServer intruder = server(socket());
            BindException e = assertThrows(BindException.class, intruder::start);
            assertEquals("cannot listen on unix:" + socket() + ": address in use (a server is accepting connections there)",
                    e.getMessage());
            intruder.close();
            try (RawClient client = RawClient.connect(live.addresses().get(0))) {
                assertEquals(17, client.add(7, 10));
            }
        }
    }

    @Test
    void regularFileAtThePathIsLeftIntactWithAClearError() throws IOException {
        Files.writeString(socket(), "precious data");
        AdderServer server = server(socket());
        IOException e = assertThrows(IOException.class, server::start);
        assertEquals("cannot listen on unix:" + socket() + ": the path exists and is a regular file, not a socket;"
                + " it was left untouched (remove it or choose another path)", e.getMessage());
        assertEquals("precious data", Files.readString(socket()));
        assertFalse(server.isRunning());
        server.close();
    }

    @Test
    void directoryAtThePathIsLeftIntactWithAClearError() throws IOException {
        Files.createDirectory(socket());
        Files.writeString(socket().resolve("inside"), "kept");
        AdderServer server = server(socket());
        IOException e = assertThrows(IOException.class, server::start);
        assertTrue(e.getMessage().contains("the path exists and is a directory, not a socket"), e.getMessage());
        assertEquals("kept", Files.readString(socket().resolve("inside")));
    }

    @Test
    void socketFileIsRemovedOnClose() throws IOException {
        AdderServer server = server(socket());
        server.start();
        assertTrue(Files.exists(socket(), LinkOption.NOFOLLOW_LINKS));
        server.close();
        assertFalse(Files.exists(socket(), LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void socketFileGetsTheRequestedPermissionsAndStillServes() throws IOException {
        try (AdderServer server = AdderServer.builder().listen(AdderAddress.unix(socket()))
                .unixSocketPermissions(PosixFilePermissions.fromString("rw-------")).build()) {
            server.start();
            assertEquals("rw-------", PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(socket(), LinkOption.NOFOLLOW_LINKS)));
            try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                assertEquals(17, client.add(7, 10));
            }
            // the private directory used to bind before publishing is gone
            try (var entries = Files.list(dir)) {
                assertEquals(1, entries.count());
            }
        }
        assertFalse(Files.exists(socket(), LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void relativeSocketPathIsServed() throws IOException {
        Path relative = Path.of("").toAbsolutePath().relativize(socket());
        if (relative.toString().length() > AdderAddress.MAX_UNIX_PATH_BYTES) {
            relative = socket();
        }
        try (AdderServer server = server(relative)) {
            server.start();
            try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                assertEquals(17, client.add(7, 10));
            }
        }
    }

    @Test
    void failedStartLeavesNothingBound() throws IOException {
        Path good = dir.resolve("good.sock");
        Files.writeString(socket(), "not a socket");
        AdderServer server = AdderServer.builder().listen(AdderAddress.unix(good))
                .listen(AdderAddress.unix(socket())).build();
        assertThrows(IOException.class, server::start);
        assertFalse(Files.exists(good, LinkOption.NOFOLLOW_LINKS), "the first listener's file stayed behind");
    }
}
