package dev.adder.bench;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Bytes allocated on Adder's loop thread per request answered, in steady
 * state: an in-process server under the load generator, warmed up by a first
 * run, then measured over a second with the JVM's per-thread allocation counter.
 *
 * <p>{@code alloc [--transport unix|tcp] [--conns N] [--depth D] [--seconds S]}
 */
final class LoopAllocation {

    private static final String THREAD = "adder-loop-measured";

    private LoopAllocation() {
    }

    static int main(String[] args) throws Exception {
        String transport = "unix";
        String conns = "4";
        String depth = "256";
        String seconds = "5";
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--transport" -> transport = args[i + 1];
                case "--conns" -> conns = args[i + 1];
                case "--depth" -> depth = args[i + 1];
                case "--seconds" -> seconds = args[i + 1];
                default -> {
                    System.err.println("usage: alloc [--transport unix|tcp] [--conns N] [--depth D] [--seconds S]");
                    return 2;
                }
            }
        }
        Path dir = Files.createTempDirectory("adder-alloc");
        AdderAddress listen = transport.equals("tcp")
                ? AdderAddress.tcp("127.0.0.1", 0)
                : AdderAddress.unix(dir.resolve("a.sock"));
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (AdderServer server = AdderServer.builder().listen(listen).threadName(THREAD).build()) {
            server.start();
            Thread loop = Thread.getAllStackTraces().keySet().stream()
                    .filter(t -> t.getName().equals(THREAD)).findFirst().orElseThrow();
            List<String> load = new ArrayList<>(List.of("--connect", server.addresses().get(0).toString(),
                    "--conns", conns, "--depth", depth, "--seconds", seconds, "--warmup", "0"));
            System.out.print("warm-up:  ");
            Load.main(load.toArray(String[]::new));
            long bytesBefore = threads.getThreadAllocatedBytes(loop.getId());
            long requestsBefore = server.stats().requests();
            System.out.print("measured: ");
            int status = Load.main(load.toArray(String[]::new));
            long bytes = threads.getThreadAllocatedBytes(loop.getId()) - bytesBefore;
            long requests = server.stats().requests() - requestsBefore;
            System.out.printf("loop thread: %d bytes allocated for %d requests (%d connections opened and closed):"
                    + " %.6f bytes per request%n", bytes, requests, Integer.parseInt(conns), (double) bytes / requests);
            return status;
        } finally {
            Files.deleteIfExists(dir.resolve("a.sock"));
            Files.deleteIfExists(dir.resolve("a.sock.lock")); // the lock file a Unix listener leaves beside its socket
            Files.deleteIfExists(dir);
        }
    }
}
