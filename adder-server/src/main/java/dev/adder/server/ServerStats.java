package dev.adder.server;

import java.util.List;

/**
 * A snapshot of a server's counters since it started. Each figure is read
 * atomically; figures read together may be a few events apart.
 *
 * @param openConnections connections open now
 * @param accepted        connections accepted and served (refused ones are not counted here)
 * @param refused         connections closed at once, unserved: {@code maxConnections} were open, or the
 *                        peer of a Unix-domain connection was not allowed ({@code allowUsers}, {@code allowGroups})
 * @param requests        requests answered
 * @param bytesRead       bytes read from clients
 * @param bytesWritten    bytes written to clients
 * @param pendingOutput   bytes of answers waiting now for clients that read slowly
 * @param busyNanos       time the event loop has spent working (serving, running tasks and timers) rather
 *                        than waiting for work, since the start: its rate is the share of a core the loop uses
 * @param busyShare       the share of the last full 10-second window the loop spent working, from 0 to 1:
 *                        near 1, the loop is saturated and more work waits
 * @param longestTurnNanos the longest the loop worked between two waits, over the last 10 to 20 seconds:
 *                        how long one slow moment (a GC pause, a slow task) kept every connection waiting
 */
public record ServerStats(long openConnections, long accepted, long refused, long requests,
        long bytesRead, long bytesWritten, long pendingOutput, long busyNanos, double busyShare,
        long longestTurnNanos) {

    /** The figures of several loops as one server's: counts summed, busy share averaged, the longest turn. */
    static ServerStats sum(List<ServerStats> loops) {
        long open = 0, accepted = 0, refused = 0, requests = 0, read = 0, written = 0, pending = 0, busy = 0, longest = 0;
        double share = 0;
        for (ServerStats s : loops) {
            open += s.openConnections;
            accepted += s.accepted;
            refused += s.refused;
            requests += s.requests;
            read += s.bytesRead;
            written += s.bytesWritten;
            pending += s.pendingOutput;
            busy += s.busyNanos;
            share += s.busyShare / loops.size();
            longest = Math.max(longest, s.longestTurnNanos);
        }
        return new ServerStats(open, accepted, refused, requests, read, written, pending, busy, share, longest);
    }

    /** Every figure zero: a server not yet started. */
    static final ServerStats NONE = new ServerStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /**
     * The totals in one line, as the server logs them when it stops: for
     * example {@code 1 request answered for 1 connection (0 refused); 16 bytes in, 8 bytes out}.
     *
     * @return the line
     */
    public String summary() {
        return count(requests, "request") + " answered for " + count(accepted, "connection") + " (" + refused
                + " refused); " + count(bytesRead, "byte") + " in, " + count(bytesWritten, "byte") + " out";
    }

    private static String count(long n, String noun) {
        return n + " " + noun + (n == 1 ? "" : "s");
    }
}
