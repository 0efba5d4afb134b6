package dev.adder.server.daemon;

import java.time.Duration;

/**
 * What one client may take of the metrics endpoint ({@link ScrapeServer}).
 *
 * @param maxConnections connections held at once; one more closes the oldest
 * @param maxHeadBytes the longest request head (request line and headers), in bytes
 * @param headTimeout the longest from the accept to the head's last byte
 * @param answerTimeout the longest from the start of the answer until the client has taken it and closed
 */
record ScrapeLimits(int maxConnections, int maxHeadBytes, Duration headTimeout, Duration answerTimeout) {

    /** The most a client may send after its answer, while the endpoint waits for it to close. */
    static final int LINGER_BYTES = 64 * 1024;

    /**
     * 64 connections, heads of 4 KiB (a scraper's is under 1 KiB), 5 s to
     * send one (a scraper sends it in one segment at once), 10 s to take an
     * answer (Prometheus's default scrape timeout). A full endpoint holds
     * 64 × 4 KiB of heads: 256 KiB.
     */
    static final ScrapeLimits DEFAULTS = new ScrapeLimits(64, 4096, Duration.ofSeconds(5), Duration.ofSeconds(10));

    ScrapeLimits {
        // 64 bytes: more than the shortest request for /metrics with a Host, so that a head can fit at all
        if (maxConnections < 1 || maxHeadBytes < 64 || headTimeout.isNegative() || headTimeout.isZero()
                || answerTimeout.isNegative() || answerTimeout.isZero()) {
            throw new IllegalArgumentException("metrics limits out of range: " + maxConnections + " connections, "
                    + maxHeadBytes + " head bytes, head timeout " + headTimeout + ", answer timeout " + answerTimeout);
        }
    }
}
