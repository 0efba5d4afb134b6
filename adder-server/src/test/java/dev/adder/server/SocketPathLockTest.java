package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.adder.core.AdderAddress;
import dev.adder.testing.Skip;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * The lock file beside a socket file, against what a hostile user of a
 * shared directory can plant there: it is never followed, opened if it
 * would hang, or taken over from another user, and a lock held by someone
 * else is reported with who holds it.
 */
@Timeout(120)
class SocketPathLockTest {

    @TempDir
    Path dir;

    private Path socket() {
        return dir.resolve("adder.sock");
    }

    private Path lockFile() {
        return dir.resolve("adder.sock.lock");
    }

    private String refusal() {
        AdderServer server = AdderServer.builder().listen(AdderAddress.unix(socket())).build();
        try {
            // a FIFO once hung the start in open(2) for good: bounded, generously, so a hang fails the test
            IOException e = assertTimeoutPreemptively(Duration.ofSeconds(60),
                    () -> assertThrows(IOException.class, server::start));
            assertFalse(server.isRunning());
            assertFalse(Files.exists(socket(), LinkOption.NOFOLLOW_LINKS), "a socket file was bound");
            return e.getMessage();
        } finally {
            server.close();
        }
    }

    @Test
    void aSymbolicLinkAtTheLockPathIsNotFollowedToCreateItsTarget() throws IOException {
        Path target = dir.resolve("elsewhere").resolve("target");
        Files.createDirectory(target.getParent());
        Files.createSymbolicLink(lockFile(), target);
        assertEquals("cannot listen on unix:" + socket() + ": its lock file " + lockFile()
                + " exists and is a symbolic link, not a regular file; it was left untouched (remove it)", refusal());
        assertFalse(Files.exists(target, LinkOption.NOFOLLOW_LINKS), "the link's target was created");
        assertTrue(Files.isSymbolicLink(lockFile()));
    }

    @Test
    void aSymbolicLinkAtTheLockPathIsNotFollowedToAnExistingFile() throws Exception {
        Path target = dir.resolve("precious");
        Files.writeString(target, "keep me");
        Files.createSymbolicLink(lockFile(), target);
        assertTrue(refusal().contains("exists and is a symbolic link, not a regular file"));
        assertEquals("keep me", Files.readString(target));
        // and no lock stays on it: another process can take one
        try (LockHolder holder = LockHolder.start(target)) {
            assertTrue(holder.pid() > 0);
        }
    }

    @Test
    void aFifoAtTheLockPathIsRefusedAtOnceRatherThanOpened() throws Exception {
        Process mkfifo = new ProcessBuilder("mkfifo", lockFile().toString()).redirectErrorStream(true).start();
        Skip.unless(mkfifo.waitFor(30, TimeUnit.SECONDS) && mkfifo.exitValue() == 0, "mkfifo is not available here");
        assertEquals("cannot listen on unix:" + socket() + ": its lock file " + lockFile()
                + " exists and is a FIFO, not a regular file; it was left untouched (remove it)", refusal());
    }

    @Test
    void aLockFileOfAnotherUserIsRefusedAndNamesItsOwner() throws IOException {
        Skip.unless(isRoot(), "needs root, to give a file to another user");
        Files.writeString(lockFile(), "");
        Files.setAttribute(lockFile(), "unix:uid", 65534);
        String owner = Files.getOwner(lockFile()).getName();
        assertEquals("cannot listen on unix:" + socket() + ": its lock file " + lockFile() + " belongs to " + owner
                + " (uid 65534), not to this server's user (uid 0); it was left untouched (remove it, or choose a"
                + " directory only this user can write)", refusal());
        assertEquals(65534, Files.getAttribute(lockFile(), "unix:uid"));
    }

    @Test
    void aLockHeldByAnotherProcessIsReportedWithItsPid() throws Exception {
        Files.writeString(lockFile(), "");
        try (LockHolder holder = LockHolder.start(lockFile())) {
            String message = refusal();
            assertTrue(message.startsWith("cannot listen on unix:" + socket() + ": address in use (process "
                    + holder.pid() + " of user "), message);
            assertTrue(message.endsWith(" holds a lock on " + lockFile() + ")"), message);
            assertTrue(message.contains("LockHolder"), "the holder's command line: " + message);
        }
        // released with its process: the next start serves
        try (AdderServer server = AdderServer.builder().listen(AdderAddress.unix(socket())).build()) {
            server.start();
            try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                assertEquals(17, client.add(7, 10));
            }
        }
    }

    @Test
    void theLockFileIsCreatedForItsOwnerOnly() throws IOException {
        try (AdderServer server = AdderServer.builder().listen(AdderAddress.unix(socket())).build()) {
            server.start();
            assertEquals("rw-------", PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(lockFile(), LinkOption.NOFOLLOW_LINKS)));
        }
    }

    @Test
    void aDirectoryOthersCanWriteGetsOneWarningAndStillServes() throws IOException {
        Logger logger = (Logger) LoggerFactory.getLogger(SocketPathLock.class);
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        logger.addAppender(lines);
        try {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
            try (AdderServer server = AdderServer.builder().listen(AdderAddress.unix(socket())).build()) {
                server.start();
                try (RawClient client = RawClient.connect(server.addresses().get(0))) {
                    assertEquals(17, client.add(7, 10));
                }
            }
            List<String> warnings = lines.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.get(0).startsWith(dir.toAbsolutePath() + " is writable by every user (mode 0777, not sticky): anyone"
                    + " there can create adder.sock.lock first"), warnings.get(0));
        } finally {
            logger.detachAppender(lines);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        }
    }

    @Test
    void aPrivateDirectoryGetsNoWarning() throws IOException {
        Logger logger = (Logger) LoggerFactory.getLogger(SocketPathLock.class);
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        logger.addAppender(lines);
        try {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
            try (AdderServer server = AdderServer.builder().listen(AdderAddress.unix(socket())).build()) {
                server.start();
            }
            assertEquals(List.of(), lines.list.stream().map(ILoggingEvent::getFormattedMessage).toList());
        } finally {
            logger.detachAppender(lines);
        }
    }

    /**
     * A hard link at the lock file's path is a file of someone's elsewhere:
     * a user may link any file they can read and write, and where
     * {@code fs.protected_hardlinks} is off, any file at all, so a daemon run
     * as root took a lock on, say, a package manager's lock file, owned by
     * root like itself. A lock file with more than one link is refused.
     */
    @Test
    void aHardLinkAtTheLockPathIsRefusedAndItsFileIsNotLocked() throws Exception {
        Path target = dir.resolve("precious");
        Files.writeString(target, "keep me");
        Files.createLink(lockFile(), target);
        assertEquals("cannot listen on unix:" + socket() + ": its lock file " + lockFile() + " has 2 links, so it is"
                + " also another file; it was left untouched (remove it)", refusal());
        assertEquals("keep me", Files.readString(target));
        try (LockHolder holder = LockHolder.start(target)) {
            assertTrue(holder.pid() > 0);
        }
    }

    /**
     * While the lock file's path is swapped, as fast as renames go, between
     * this user's file, another user's, a FIFO and a symbolic link, every
     * refusal says what one look at the path saw. The checks used to look
     * several times: "belongs to root (uid 65534)" named the owner of one
     * file and the uid of another, a FIFO was "a special file" when the
     * second look found something else, and a link swapped in just before the
     * open, or a file gone just after the create, fell through to the generic
     * "cannot create or lock". And no lock stays held.
     */
    @Test
    void refusalsWhileThePathIsSwappedSayWhatOneLookSaw() throws Exception {
        Skip.unless(isRoot(), "needs root, to give a file to another user");
        Process mkfifo = new ProcessBuilder("mkfifo", dir.resolve("fifo").toString()).redirectErrorStream(true).start();
        Skip.unless(mkfifo.waitFor(30, TimeUnit.SECONDS) && mkfifo.exitValue() == 0, "mkfifo is not available here");
        Path mine = dir.resolve("mine");
        Files.writeString(mine, "");
        Path theirs = dir.resolve("theirs");
        Files.writeString(theirs, "");
        Files.setAttribute(theirs, "unix:uid", 65534);
        String theirName = Files.getOwner(theirs).getName();
        Files.createSymbolicLink(dir.resolve("link"), mine);
        List<Path> planted = List.of(theirs, dir.resolve("fifo"), dir.resolve("link"));
        Path aside = dir.resolve("aside");
        Files.move(mine, lockFile());
        AtomicBoolean stop = new AtomicBoolean();
        Thread racer = new Thread(() -> {
            for (long round = 0; !stop.get(); round++) {
                Path plant = planted.get((int) (round % planted.size()));
                try { // this user's file aside, something else in its place, then back
                    Files.move(lockFile(), aside, StandardCopyOption.ATOMIC_MOVE);
                    Files.move(plant, lockFile(), StandardCopyOption.ATOMIC_MOVE);
                    Files.move(lockFile(), plant, StandardCopyOption.ATOMIC_MOVE);
                    Files.move(aside, lockFile(), StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException e) {
                    // a lock file the server created in a gap: swapped like its own, or replaced
                }
            }
        }, "racer");
        AdderAddress address = AdderAddress.unix(socket());
        Map<String, Integer> seen = new TreeMap<>();
        List<String> wrong = new ArrayList<>();
        Pattern owner = Pattern.compile("belongs to (\\S+) \\(uid (\\d+)\\)");
        racer.start();
        try {
            // 3 s and at least 2,000 tries (most see the path swapped at one moment or another), within 30 s
            long start = System.nanoTime();
            for (int i = 0; i < 20_000; i++) {
                long elapsed = System.nanoTime() - start;
                if (elapsed > TimeUnit.SECONDS.toNanos(30) || i >= 2_000 && elapsed > TimeUnit.SECONDS.toNanos(3)) {
                    break;
                }
                String outcome;
                try {
                    SocketPathLock.acquire(address, socket()).release();
                    outcome = "locked";
                } catch (IOException e) {
                    String message = e.getMessage();
                    Matcher m = owner.matcher(message);
                    outcome = m.find() ? "belongs to another user"
                            : message.contains("exists and is a FIFO") ? "a FIFO"
                            : message.contains("exists and is a symbolic link") ? "a symbolic link"
                            : message.contains("was replaced while it was being opened") ? "replaced"
                            : message.contains("was removed while it was being opened") ? "removed"
                            : "other";
                    if (outcome.equals("other") || outcome.startsWith("belongs")
                            && !(m.group(1).equals(theirName) && m.group(2).equals("65534"))) {
                        wrong.add(message);
                    }
                }
                seen.merge(outcome, 1, Integer::sum);
            }
        } finally {
            stop.set(true);
            racer.join();
        }
        System.out.println("acquisitions while the path was swapped: " + seen);
        assertEquals(List.of(), wrong.stream().distinct().toList());
        // nothing stays locked: with this user's file put back in place, another process takes the lock
        for (Path path : List.of(lockFile(), aside)) {
            if (Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS)
                    && Files.getOwner(path, LinkOption.NOFOLLOW_LINKS).getName().equals("root")) {
                try (LockHolder holder = LockHolder.start(path)) {
                    assertTrue(holder.pid() > 0);
                }
            }
        }
    }

    private static boolean isRoot() throws IOException {
        return ((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")) == 0;
    }

    /** Another process holding a POSIX lock on a file until closed: a one-file Java program run from source. */
    private static final class LockHolder implements AutoCloseable {
        private static final String SOURCE = """
                import java.nio.channels.FileChannel;
                import java.nio.file.Path;
                import java.nio.file.StandardOpenOption;
                public class LockHolder {
                    public static void main(String[] args) throws Exception {
                        try (FileChannel channel = FileChannel.open(Path.of(args[0]), StandardOpenOption.WRITE)) {
                            channel.lock();
                            System.out.println("locked");
                            System.in.read(); // holds the lock until its input closes
                        }
                    }
                }
                """;

        private final Process process;

        private LockHolder(Process process) {
            this.process = process;
        }

        static LockHolder start(Path file) throws IOException {
            Path source = Files.createTempDirectory("lock-holder").resolve("LockHolder.java");
            Files.writeString(source, SOURCE);
            Process process = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    source.toString(), file.toString()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            LockHolder holder = new LockHolder(process);
            BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            String line = out.readLine();
            if (!"locked".equals(line)) {
                holder.close();
                throw new IOException("the lock holder did not lock " + file + " (printed " + line + ")");
            }
            return holder;
        }

        long pid() {
            return process.pid();
        }

        @Override
        public void close() throws IOException {
            process.getOutputStream().close();
            try {
                if (!process.waitFor(60, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
