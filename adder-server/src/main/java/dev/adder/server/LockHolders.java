package dev.adder.server;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who holds a POSIX lock on a file, read from Linux's {@code /proc/locks}: the
 * words {@link SocketPathLock} puts in an "address in use" refusal.
 */
final class LockHolders {

    /** The lock's logger: its one (debug) line is about the lock. */
    private static final Logger log = LoggerFactory.getLogger(SocketPathLock.class);

    private LockHolders() {
    }

    /** "process 1234 of user bob (java -jar adder-server-all.jar ...)", or "another process" where unknown. */
    static String describe(Path lockPath) {
        try {
            long dev = (Long) Files.getAttribute(lockPath, "unix:dev", LinkOption.NOFOLLOW_LINKS);
            long ino = (Long) Files.getAttribute(lockPath, "unix:ino", LinkOption.NOFOLLOW_LINKS);
            long major = ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
            long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
            for (String line : Files.readAllLines(Path.of("/proc/locks"), StandardCharsets.US_ASCII)) {
                // "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; a waiter's line starts "1: -> POSIX"
                String[] fields = line.trim().split("\\s+");
                if (fields.length < 6 || fields[1].equals("->")) {
                    continue;
                }
                String[] id = fields[5].split(":");
                if (id.length == 3 && Long.parseLong(id[0], 16) == major && Long.parseLong(id[1], 16) == minor
                        && Long.parseLong(id[2]) == ino) {
                    return process(Long.parseLong(fields[4]));
                }
            }
        } catch (IOException | RuntimeException e) {
            log.debug("cannot tell who holds {}: {}", lockPath, e.toString());
        }
        return "another process";
    }

    private static String process(long pid) {
        StringBuilder text = new StringBuilder("process ").append(pid);
        Path proc = Path.of("/proc", Long.toString(pid));
        try {
            text.append(" of user ").append(Files.getOwner(proc).getName());
        } catch (IOException | RuntimeException e) {
            // gone meanwhile, or not ours to see
        }
        try {
            String command = new String(Files.readAllBytes(proc.resolve("cmdline")), StandardCharsets.UTF_8)
                    .replace('\0', ' ').strip();
            if (!command.isEmpty()) {
                text.append(" (").append(command.length() > 100 ? command.substring(0, 100) + " ..." : command)
                        .append(')');
            }
        } catch (IOException | RuntimeException e) {
            // as above
        }
        return text.toString();
    }
}
