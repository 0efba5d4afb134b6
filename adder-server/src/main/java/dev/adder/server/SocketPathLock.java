package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.server.UnixSocketFile.ListenException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The exclusive lock on {@code PATH.lock} beside a socket file, within this
 * JVM and across processes, held for the server's life.
 *
 * <p>The lock file may sit in a directory others can write (a sticky
 * {@code /tmp}), so nothing planted there is trusted: the file is created
 * with {@code O_EXCL} and mode 0600, or, when it exists, opened only if it
 * is a regular file owned by this process's user with no other link to it
 * (not a hard link to a file elsewhere), without following a symbolic link
 * ({@code O_NOFOLLOW}) and read-write, which on Linux never waits for a peer
 * even if a FIFO were swapped in; after opening, the path must still name
 * the file that was checked. Anything else is refused with what it is, and
 * a lock held by someone else is reported with who holds it.
 */
final class SocketPathLock {

    private static final Logger log = LoggerFactory.getLogger(SocketPathLock.class);
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");
    private static final int S_IFMT = 0170000;
    private static final int S_IFREG = 0100000;
    /**
     * Lock files held by servers of this JVM. POSIX record locks belong to a
     * process, and closing any descriptor of the file drops them all, so a
     * second server in the same JVM must not even open a held lock file.
     */
    private static final Set<Path> HELD_HERE = ConcurrentHashMap.newKeySet();

    private final Path registered;
    private final FileChannel channel;
    private boolean released;

    private SocketPathLock(Path registered, FileChannel channel) {
        this.registered = registered;
        this.channel = channel;
    }

    /** Takes the lock beside {@code socketPath}, or fails with a message naming the lock file and the cause. */
    static SocketPathLock acquire(AdderAddress address, Path socketPath) throws IOException {
        Path lockPath = socketPath.resolveSibling(socketPath.getFileName() + ".lock");
        Path registered;
        try {
            Path parent = lockPath.toAbsolutePath().getParent();
            registered = parent.toRealPath().resolve(lockPath.getFileName());
        } catch (IOException e) {
            throw new ListenException(address, "its directory cannot be used: " + UnixSocketFile.reason(e));
        }
        if (!HELD_HERE.add(registered)) {
            throw new ListenException(address, "address in use (another adder server in this JVM holds " + lockPath + ")");
        }
        FileChannel channel = null;
        try {
            channel = open(address, lockPath);
            FileLock lock = channel.tryLock();
            if (lock == null) {
                throw new ListenException(address, "address in use (" + LockHolders.describe(lockPath)
                        + " holds a lock on " + lockPath + ")");
            }
            warnIfOthersCanWrite(lockPath);
            return new SocketPathLock(registered, channel);
        } catch (IOException | OverlappingFileLockException e) {
            if (channel != null) {
                channel.close();
            }
            HELD_HERE.remove(registered);
            if (e instanceof ListenException listen) {
                throw listen;
            }
            throw new ListenException(address, "cannot create or lock its lock file " + lockPath + ": "
                    + (e instanceof IOException io ? UnixSocketFile.cause(io) : "held by this JVM"));
        }
    }

    /** Creates the lock file, or opens the one there if it is this user's regular file. */
    private static FileChannel open(AdderAddress address, Path lockPath) throws IOException {
        boolean posix = lockPath.getFileSystem().supportedFileAttributeViews().contains("posix");
        try {
            // O_CREAT|O_EXCL: never follows a link, never opens what is already there
            Set<OpenOption> create = Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            return posix ? FileChannel.open(lockPath, create, PosixFilePermissions.asFileAttribute(OWNER_ONLY))
                    : FileChannel.open(lockPath, create, new FileAttribute<?>[0]);
        } catch (FileAlreadyExistsException e) {
            // the usual case after a first start: the lock file stays when a server stops
        }
        Object before = checked(address, lockPath, posix);
        FileChannel channel;
        try {
            channel = FileChannel.open(lockPath, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            throw removed(address, lockPath);
        } catch (IOException e) {
            // ELOOP, a link put in its place since the check, comes as a plain IOException (the JDK's message
            // says NOFOLLOW_LINKS); EACCES, ENXIO and the like as a FileSystemException
            throw new ListenException(address, "its lock file " + lockPath + " was replaced while it was being opened ("
                    + (e instanceof FileSystemException ? UnixSocketFile.cause(e) : "by a symbolic link")
                    + "); it was left untouched");
        }
        try {
            BasicFileAttributes after;
            try {
                after = Files.readAttributes(lockPath, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            } catch (NoSuchFileException e) {
                throw removed(address, lockPath);
            }
            if (before != null && !Objects.equals(before, after.fileKey())) {
                throw new ListenException(address, "its lock file " + lockPath
                        + " was replaced while it was being opened; it was left untouched");
            }
            return channel;
        } catch (IOException e) {
            channel.close();
            throw e;
        }
    }

    private static ListenException removed(AdderAddress address, Path lockPath) {
        return new ListenException(address, "its lock file " + lockPath + " was removed while it was being opened;"
                + " something else is changing that directory");
    }

    /**
     * Checks an existing lock file: a regular file of this user's, or fails.
     * Every check, and every word of a refusal, comes from one look at the
     * path: a second look may see another file, put there meanwhile.
     *
     * @return the file's key, to tell after opening it whether the path still names it
     */
    private static Object checked(AdderAddress address, Path lockPath, boolean posix) throws IOException {
        if (!posix) {
            BasicFileAttributes attributes;
            try {
                attributes = Files.readAttributes(lockPath, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            } catch (NoSuchFileException e) {
                throw removed(address, lockPath);
            }
            if (!attributes.isRegularFile()) {
                throw notRegular(address, lockPath, kind(lockPath, attributes));
            }
            return attributes.fileKey();
        }
        Map<String, Object> seen;
        try {
            seen = Files.readAttributes(lockPath, "unix:*", LinkOption.NOFOLLOW_LINKS); // one lstat(2)
        } catch (NoSuchFileException e) {
            throw removed(address, lockPath);
        }
        int mode = (Integer) seen.get("mode");
        if ((mode & S_IFMT) != S_IFREG) {
            throw notRegular(address, lockPath, kind(mode));
        }
        int owner = (Integer) seen.get("uid");
        UserPrincipal ownerUser = (UserPrincipal) seen.get("owner");
        int self = thisProcessUid();
        String selfName = null; // set when this server is not the owner
        if (self >= 0) {
            selfName = owner == self ? null : "uid " + self;
        } else { // no /proc/self: the user the JVM was started as, by name; never the check skipped
            UserPrincipal me = thisProcessUser(lockPath);
            if (me == null) {
                throw new ListenException(address, "its lock file " + lockPath + " exists, and this server cannot tell"
                        + " its own user (no /proc/self, no user name) to check that it is its own; it was left"
                        + " untouched (remove it)");
            }
            selfName = me.equals(ownerUser) ? null : me.getName();
        }
        if (selfName != null) {
            throw new ListenException(address, "its lock file " + lockPath + " belongs to " + ownerUser.getName()
                    + " (uid " + owner + "), not to this server's user (" + selfName
                    + "); it was left untouched (remove it, or choose a directory only this user can write)");
        }
        int links = (Integer) seen.get("nlink");
        if (links > 1) { // a hard link to a file elsewhere: someone's, though it has this user as owner
            throw new ListenException(address, "its lock file " + lockPath + " has " + links
                    + " links, so it is also another file; it was left untouched (remove it)");
        }
        return seen.get("fileKey");
    }

    private static ListenException notRegular(AdderAddress address, Path lockPath, String kind) {
        return new ListenException(address, "its lock file " + lockPath + " exists and is " + kind
                + ", not a regular file; it was left untouched (remove it)");
    }

    /** "a symbolic link", "a FIFO", ...: what a path that is not a regular file is. */
    static String kind(Path path, BasicFileAttributes attributes) {
        if (attributes.isDirectory()) {
            return "a directory";
        }
        if (attributes.isSymbolicLink()) {
            return "a symbolic link";
        }
        if (attributes.isRegularFile()) {
            return "a regular file";
        }
        try {
            return kind((Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS));
        } catch (UnsupportedOperationException | IllegalArgumentException | IOException e) {
            return "a special file";
        }
    }

    /** What a file of this {@code st_mode} is: "a FIFO", "a directory", ... */
    static String kind(int mode) {
        switch (mode & S_IFMT) {
            case 0040000: return "a directory";
            case 0120000: return "a symbolic link";
            case S_IFREG: return "a regular file";
            case 0010000: return "a FIFO";
            case 0140000: return "a socket";
            case 0020000: return "a character device";
            case 0060000: return "a block device";
            default: return "a special file";
        }
    }

    /**
     * One warning when other users can write the directory: any of them can
     * create the lock file first (as their own), and the next start is
     * refused until it is removed; without the sticky bit they can also
     * rename this server's files away and put their own in their place
     * between two looks, which no check by path can rule out.
     */
    private static void warnIfOthersCanWrite(Path lockPath) {
        Path dir = lockPath.toAbsolutePath().getParent();
        try {
            int mode = (Integer) Files.getAttribute(dir, "unix:mode") & 07777;
            String who = (mode & 0002) != 0 ? "every user" : (mode & 0020) != 0 ? "its group" : null;
            if (who == null) {
                return;
            }
            boolean sticky = (mode & 01000) != 0;
            log.warn("{} is writable by {} (mode {}{}): anyone there can create {} first and block this server's next"
                    + " start{}; a directory only this server's user can write (such as /run/adder) avoids it",
                    dir, who, String.format("%04o", mode), sticky ? "" : ", not sticky", lockPath.getFileName(),
                    sticky ? "" : ", or swap this server's lock file and socket for their own while it starts");
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            log.debug("cannot read the mode of {}: {}", dir, e.toString());
        }
    }

    synchronized void release() {
        if (released) {
            return;
        }
        released = true;
        try {
            channel.close(); // releases the lock
        } catch (IOException e) {
            log.debug("error releasing the lock {}: {}", registered, e.toString());
        }
        HELD_HERE.remove(registered);
    }

    /**
     * The user the JVM was started as, by {@code user.name} (the name of its
     * real user id), where {@link #thisProcessUid()} cannot tell; null if it
     * has no name.
     */
    private static UserPrincipal thisProcessUser(Path near) {
        String name = System.getProperty("user.name");
        if (name == null || name.isEmpty() || name.equals("?")) { // "?": a uid without a passwd entry
            return null;
        }
        try {
            return near.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(name);
        } catch (IOException | UnsupportedOperationException e) {
            return null;
        }
    }

    /** This process's effective user id, or -1 where the platform does not tell it (no /proc). */
    private static int thisProcessUid() {
        try { // Linux: /proc/self belongs to the process's effective user
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return -1;
        }
    }
}
