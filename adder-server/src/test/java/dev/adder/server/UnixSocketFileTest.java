package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.testing.AcceptQueue;
import java.io.IOException;
import java.net.BindException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.RepeatedTest;
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
            assertEquals("cannot listen on unix:" + socket() + ": address in use (another adder server in this JVM holds "
                    + socket() + ".lock)", e.getMessage());
            intruder.close();
            try (RawClient client = RawClient.connect(live.addresses().get(0))) {
                assertEquals(17, client.add(7, 10));
            }
        }
    }

    @Test
    void pathOfALiveListenerThatIsNotAdderIsRefusedNotStolen() throws IOException {
        try (ServerSocketChannel other = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            other.bind(UnixDomainSocketAddress.of(socket()));
            AdderServer intruder = server(socket());
            BindException e = assertThrows(BindException.class, intruder::start);
            assertEquals("cannot listen on unix:" + socket() + ": address in use (a server is accepting connections there)",
                    e.getMessage());
            assertTrue(Files.exists(socket(), LinkOption.NOFOLLOW_LINKS));
        }
    }

    @Test
    void startFailsAtOnceWhenTheLiveServerAtThePathHasAFullAcceptQueue() throws IOException {
        List<SocketChannel> queued = new ArrayList<>();
        try (ServerSocketChannel busy = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            busy.bind(UnixDomainSocketAddress.of(socket()), 1); // never accepts
            AcceptQueue.fill(socket(), queued);
            AdderServer intruder = server(socket());
            // before the probe was bounded, this start blocked in connect() for as long as the queue stayed full
            BindException e = assertTimeoutPreemptively(Duration.ofSeconds(20),
                    () -> assertThrows(BindException.class, intruder::start));
            assertTrue(e.getMessage().startsWith("cannot listen on unix:" + socket()
                    + ": address in use (a server is there but did not accept a connection: "), e.getMessage());
            assertTrue(Files.exists(socket(), LinkOption.NOFOLLOW_LINKS));
        } finally {
            for (SocketChannel channel : queued) {
                channel.close();
            }
        }
    }

    @RepeatedTest(40)
    void ofTwoServersRacingForAStalePathExactlyOneServesAndItsFileIsIntact() throws Exception {
        try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            dead.bind(UnixDomainSocketAddress.of(socket())); // closed without removing its file: stale
        }
        CyclicBarrier together = new CyclicBarrier(2);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        List<AdderServer> servers = List.of(server(socket()), server(socket()));
        try {
            List<Future<Boolean>> started = new ArrayList<>();
            for (AdderServer server : servers) {
                started.add(pool.submit(() -> {
                    together.await();
                    try {
                        server.start();
                        return true;
                    } catch (BindException inUse) {
                        return false;
                    }
                }));
            }
            int winners = 0;
            AdderServer winner = null;
            for (int i = 0; i < 2; i++) {
                if (started.get(i).get()) {
                    winners++;
                    winner = servers.get(i);
                }
            }
            assertEquals(1, winners, "servers that started");
            try (RawClient client = RawClient.connect(AdderAddress.unix(socket()))) {
                assertEquals(17, client.add(7, 10));
            }
            winner.close();
            assertFalse(Files.exists(socket(), LinkOption.NOFOLLOW_LINKS));
        } finally {
            servers.forEach(AdderServer::close);
            pool.shutdownNow();
        }
    }

    @Test
    void aMissingDirectoryIsNamedAsTheCause() {
        Path path = dir.resolve("missing").resolve("adder.sock");
        AdderServer server = server(path);
        IOException e = assertThrows(IOException.class, server::start);
        assertEquals("cannot listen on unix:" + path + ": its directory cannot be used: " + path.getParent()
                + ": no such file or directory", e.getMessage());
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
                assertEquals(List.of("adder.sock", "adder.sock.lock"),
                        entries.map(p -> p.getFileName().toString()).sorted().toList());
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
