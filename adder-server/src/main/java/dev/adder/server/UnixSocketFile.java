package dev.adder.server;

import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.net.BindException;
import java.net.ConnectException;
import java.net.SocketException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The socket file of a Unix-domain listener: binding it safely, and removing
 * it only if it is still the one this server created.
 *
 * <p>Every step that looks at the path, decides and acts (probe a stale
 * file, delete it, bind) happens under an exclusive advisory lock on a file
 * beside it, {@code PATH.lock}, held for the server's life: two servers
 * starting at once, in two processes or in one JVM, cannot both decide the
 * file is stale, and the loser never deletes the winner's socket. The lock
 * file stays when the server stops (an empty file; deleting a lock file
 * cannot be done without a race), and a lock dies with its process, so a
 * killed server leaves nothing that blocks the next one.
 *
 * <p>An existing socket file is told stale or live by connecting to it,
 * without blocking: refused means its server is gone and the file is
 * replaced; anything else (accepted, or a full accept queue) means a live
 * server owns it, and binding fails rather than stealing its path. A path
 * that is not a socket is never touched.
 */
final class UnixSocketFile {

    private static final Logger log = LoggerFactory.getLogger(UnixSocketFile.class);
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    private final Path path;
    private final Object fileKey;
    private final SocketPathLock lock;

    private UnixSocketFile(Path path, Object fileKey, SocketPathLock lock) {
        this.path = path;
        this.fileKey = fileKey;
        this.lock = lock;
    }

    /** A listen failure whose message is complete: it names the address and the cause. */
    static final class ListenException extends BindException {
        private static final long serialVersionUID = 1L;

        ListenException(AdderAddress address, String reason) {
            super("cannot listen on " + address + ": " + reason);
        }
    }

    /**
     * Binds a listening channel at the address's path.
     *
     * @param permissions if not null, applied to the socket file before any
     *        client can connect to it
     */
    static Bound bind(AdderAddress address, Set<PosixFilePermission> permissions, int backlog) throws IOException {
        Path path = address.unixPath();
        refuseIfNotASocket(address, path); // before creating a lock file beside something else
        SocketPathLock lock = SocketPathLock.acquire(address, path);
        ServerSocketChannel channel = null;
        try {
            clearStaleFile(address, path);
            channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            if (permissions == null) {
                channel.bind(UnixDomainSocketAddress.of(path), backlog);
            } else {
                bindPrivatelyThenPublish(address, channel, path, permissions, backlog);
            }
            Object key = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            return new Bound(channel, new UnixSocketFile(path, key, lock));
        } catch (ListenException e) {
            closeAndRelease(channel, lock);
            throw e;
        } catch (IOException e) {
            closeAndRelease(channel, lock);
            throw new ListenException(address, reason(e));
        } catch (RuntimeException e) {
            closeAndRelease(channel, lock);
            throw e;
        }
    }

    private static void closeAndRelease(ServerSocketChannel channel, SocketPathLock lock) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                log.debug("error closing a listener that failed to bind: {}", e.toString());
            }
        }
        lock.release();
    }

    /** A bound listening channel and the file it created. */
    record Bound(ServerSocketChannel channel, UnixSocketFile file) {
    }

    /** Removes the socket file if it is still the one this server bound, then releases the path's lock. */
    void remove() {
        try {
            Object current = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            if (fileKey != null && !Objects.equals(fileKey, current)) {
                log.warn("socket file {} was replaced by another; leaving it in place", path);
                return;
            }
            Files.delete(path);
        } catch (NoSuchFileException e) {
            log.debug("socket file {} was already removed", path);
        } catch (IOException e) {
            log.warn("could not remove socket file {}: {}", path, e.toString());
        } finally {
            lock.release();
        }
    }

    /** Fails if something other than a socket is at the path; returns whether a socket file is there. */
    private static boolean refuseIfNotASocket(AdderAddress address, Path path) throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return false;
        }
        if (!isSocket(path, attributes)) {
            throw new ListenException(address, "the path exists and is " + SocketPathLock.kind(path, attributes)
                    + ", not a socket; it was left untouched (remove it or choose another path)");
        }
        return true;
    }

    /** Under the path's lock: removes a socket file no server accepts on, or fails. */
    private static void clearStaleFile(AdderAddress address, Path path) throws IOException {
        if (!refuseIfNotASocket(address, path)) {
            return;
        }
        SocketException probeFailure = null;
        boolean refused = false;
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.configureBlocking(false); // a live server with a full accept queue must not hang the probe
            probe.connect(UnixDomainSocketAddress.of(path));
        } catch (ConnectException e) {
            refused = true;
        } catch (SocketException e) {
            probeFailure = e;
        }
        if (!refused) {
            throw new ListenException(address, probeFailure == null
                    ? "address in use (a server is accepting connections there)"
                    : "address in use (a server is there but did not accept a connection: " + probeFailure.getMessage() + ")");
        }
        log.info("removing stale socket file {} (nothing accepts connections there)", path);
        Files.deleteIfExists(path);
    }

    private static boolean isSocket(Path path, BasicFileAttributes attributes) {
        try {
            int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            return (mode & S_IFMT) == S_IFSOCK;
        } catch (UnsupportedOperationException | IllegalArgumentException | IOException e) {
            return attributes.isOther();
        }
    }

    /**
     * Binds in a fresh owner-only directory beside the path, sets the
     * permissions, then hard-links the socket into place. {@code link(2)}
     * fails if the path exists, so a server that bound the path meanwhile is
     * never replaced, and no client can connect before the permissions hold.
     */
    private static void bindPrivatelyThenPublish(AdderAddress address, ServerSocketChannel channel, Path path,
            Set<PosixFilePermission> permissions, int backlog) throws IOException {
        Path parent = path.getParent() == null ? Path.of(".") : path.getParent();
        Path privateDir = Files.createTempDirectory(parent, ".adder-");
        Path privatePath = privateDir.resolve("s");
        try {
            if (privatePath.toString().getBytes(StandardCharsets.UTF_8).length > AdderAddress.MAX_UNIX_PATH_BYTES) {
                throw new ListenException(address, "with a socket mode the socket is first bound privately at "
                        + privatePath + ", which is longer than " + AdderAddress.MAX_UNIX_PATH_BYTES
                        + " bytes; use a shorter socket path");
            }
            channel.bind(UnixDomainSocketAddress.of(privatePath), backlog);
            Files.setPosixFilePermissions(privatePath, permissions);
            try {
                Files.createLink(path, privatePath);
            } catch (FileAlreadyExistsException e) {
                throw new ListenException(address, "address in use (another process created " + path + " meanwhile)");
            }
        } finally {
            Files.deleteIfExists(privatePath);
            Files.deleteIfExists(privateDir);
        }
    }

    /** The cause of a failure, once, naming the file it concerns. */
    static String reason(IOException e) {
        if (e instanceof FileSystemException fs && fs.getFile() != null) {
            return fs.getFile() + ": " + cause(e);
        }
        return cause(e);
    }

    /** The cause alone: a {@link FileSystemException}'s message is only its file's name. */
    static String cause(IOException e) {
        if (e instanceof FileSystemException fs) {
            return fs instanceof AccessDeniedException ? "permission denied"
                    : fs instanceof NoSuchFileException ? "no such file or directory"
                    : fs.getReason() != null ? fs.getReason() : fs.getClass().getSimpleName();
        }
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }
}
