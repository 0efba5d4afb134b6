package dev.adder.server;

import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.net.BindException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The socket file of a Unix-domain listener: binding it safely, and removing
 * it only if it is still the one this server created.
 *
 * <p>An existing socket file is told stale or live by connecting to it:
 * refused means its server is gone and the file is replaced; accepted means a
 * live server owns it, and binding fails rather than stealing its path. A
 * path that is not a socket is never touched.
 */
final class UnixSocketFile {

    private static final Logger log = LoggerFactory.getLogger(UnixSocketFile.class);
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    private final Path path;
    private final Object fileKey;

    private UnixSocketFile(Path path, Object fileKey) {
        this.path = path;
        this.fileKey = fileKey;
    }

    /**
     * Binds a listening channel at the address's path.
     *
     * @param permissions if not null, applied to the socket file before any
     *        client can connect to it
     */
    static Bound bind(AdderAddress address, Set<PosixFilePermission> permissions, int backlog) throws IOException {
        Path path = address.unixPath();
        clearStaleFile(address, path);
        ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            if (permissions == null) {
                channel.bind(UnixDomainSocketAddress.of(path), backlog);
            } else {
                bindPrivatelyThenPublish(channel, path, permissions, backlog);
            }
            Object key = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            return new Bound(channel, new UnixSocketFile(path, key));
        } catch (BindException e) {
            channel.close();
            throw new BindException("cannot listen on " + address + ": address in use (" + e.getMessage() + ")");
        } catch (IOException e) {
            channel.close();
            throw withAddress(address, e);
        } catch (RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** A bound listening channel and the file it created. */
    record Bound(ServerSocketChannel channel, UnixSocketFile file) {
    }

    /** Removes the socket file if it is still the one this server bound. */
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
        }
    }

    private static void clearStaleFile(AdderAddress address, Path path) throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return;
        }
        if (!isSocket(path, attributes)) {
            String kind = attributes.isDirectory() ? "a directory"
                    : attributes.isRegularFile() ? "a regular file"
                    : attributes.isSymbolicLink() ? "a symbolic link" : "not a socket";
            throw new IOException("cannot listen on " + address + ": the path exists and is "
                    + kind + ", not a socket; it was left untouched (remove it or choose another path)");
        }
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.connect(UnixDomainSocketAddress.of(path));
            throw new BindException("cannot listen on " + address + ": address in use (a server is accepting connections there)");
        } catch (ConnectException refused) {
            log.info("removing stale socket file {} (nothing accepts connections there)", path);
            Files.deleteIfExists(path);
        }
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
    private static void bindPrivatelyThenPublish(
            ServerSocketChannel channel, Path path, Set<PosixFilePermission> permissions, int backlog) throws IOException {
        Path parent = path.getParent() == null ? Path.of(".") : path.getParent();
        Path privateDir = Files.createTempDirectory(parent, ".adder-");
        Path privatePath = privateDir.resolve("s");
        try {
            if (privatePath.toString().getBytes(StandardCharsets.UTF_8).length > AdderAddress.MAX_UNIX_PATH_BYTES) {
                throw new IOException("path too long to bind it privately first; use a shorter socket path");
            }
            channel.bind(UnixDomainSocketAddress.of(privatePath), backlog);
            Files.setPosixFilePermissions(privatePath, permissions);
            try {
                Files.createLink(path, privatePath);
            } catch (FileAlreadyExistsException e) {
                throw new BindException("the path was bound by another process meanwhile");
            }
        } finally {
            Files.deleteIfExists(privatePath);
            Files.deleteIfExists(privateDir);
        }
    }

    private static IOException withAddress(AdderAddress address, IOException e) {
        String message = e.getMessage() == null ? e.toString() : e.getMessage();
        if (message.startsWith("cannot listen on")) {
            return e;
        }
        return new IOException("cannot listen on " + address + ": " + message, e);
    }
}
