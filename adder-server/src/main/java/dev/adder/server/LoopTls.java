package dev.adder.server;

import dev.adder.core.tls.TlsBuffers;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One loop's part of TLS: the buffers its connections' records pass
 * through, and their handshakes' deadline. Handshakes are timed in the
 * order they began (they all have the same timeout), so one timer, set for
 * the oldest, is enough; those that ended are dropped as they reach the
 * front. What waits in that line for an ended handshake is a small token
 * that no longer names its channel, so a closed connection's engine is not
 * kept for the rest of the timeout. Loop thread only.
 */
final class LoopTls {

    private static final Logger log = LoggerFactory.getLogger(LoopTls.class);

    final ServerTls shared;
    final EventLoop loop;
    final TlsBuffers buffers = new TlsBuffers();
    private final Timers timers;
    private final Clock clock;
    private final Timers.Timer timer;
    private final ArrayDeque<Handshake> begun = new ArrayDeque<>();
    private final RateLimit timeoutWarnings = new RateLimit();
    private long timedOut;

    LoopTls(ServerTls shared, EventLoop loop, Timers timers, Clock clock) {
        this.shared = shared;
        this.loop = loop;
        this.timers = timers;
        this.clock = clock;
        this.timer = timers.create(this::check);
    }

    /** A handshake in line for its deadline: its channel until it ends, then null. */
    static final class Handshake {
        final long startedNanos;
        TlsConnectionChannel channel;

        Handshake(TlsConnectionChannel channel, long startedNanos) {
            this.channel = channel;
            this.startedNanos = startedNanos;
        }
    }

    Handshake begun(TlsConnectionChannel channel, long startedNanos) {
        Handshake handshake = new Handshake(channel, startedNanos);
        begun.addLast(handshake);
        if (!timer.isScheduled()) {
            timers.schedule(timer, startedNanos + shared.handshakeTimeoutNanos);
        }
        return handshake;
    }

    /** A handshake ended, one way or another. */
    void ended() {
        shared.inProgress.decrementAndGet();
    }

    void timedOut(Connection connection) {
        timedOut++;
        if (timeoutWarnings.allow(clock.nanoTime())) {
            log.warn("{}: closing: no TLS handshake within {} ms ({} timed out so far on this loop)", connection,
                    shared.handshakeTimeoutNanos / 1_000_000, timedOut);
        }
    }

    private void check() {
        long now = clock.nanoTime();
        while (!begun.isEmpty()) {
            Handshake oldest = begun.peekFirst();
            if (oldest.channel == null) {
                begun.pollFirst();
            } else if (now - oldest.startedNanos - shared.handshakeTimeoutNanos >= 0) {
                begun.pollFirst();
                oldest.channel.timedOut();
            } else {
                timers.schedule(timer, oldest.startedNanos + shared.handshakeTimeoutNanos);
                return;
            }
        }
    }
}
