package dev.adder.server;

/**
 * A snapshot of a server's counters since it started. Each figure is read
 * atomically; figures read together may be a few events apart.
 *
 * @param openConnections connections open now
 * @param accepted        connections accepted and served (refused ones are not counted here)
 * @param refused         connections closed at once because {@code maxConnections} were open
 * @param requests        requests answered
 * @param bytesRead       bytes read from clients
 * @param bytesWritten    bytes written to clients
 * @param pendingOutput   bytes of answers waiting now for clients that read slowly
 */
public record ServerStats(long openConnections, long accepted, long refused, long requests,
        long bytesRead, long bytesWritten, long pendingOutput) {

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
