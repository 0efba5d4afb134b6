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
 * front. Loop thread only.
 */
final class LoopTls {

    private static final Logger log = LoggerFactory.getLogger(LoopTls.class);

    final ServerTls shared;
    final EventLoop loop;
    final TlsBuffers buffers = new TlsBuffers();
    private final Timers timers;
    private final Clock clock;
    private final Timers.Timer timer;
    private final ArrayDeque<TlsConnectionChannel> begun = new ArrayDeque<>();
    private final RateLimit timeoutWarnings = new RateLimit();
    private long timedOut;

    LoopTls(ServerTls shared, EventLoop loop, Timers timers, Clock clock) {
        this.shared = shared;
        this.loop = loop;
        this.timers = timers;
        this.clock = clock;
        this.timer = timers.create(this::check);
    }

    void begun(TlsConnectionChannel channel) {
        begun.addLast(channel);
        if (!timer.isScheduled()) {
            timers.schedule(timer, channel.startedNanos + shared.handshakeTimeoutNanos);
        }
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
            TlsConnectionChannel oldest = begun.peekFirst();
            if (oldest.handshakeEnded()) {
                begun.pollFirst();
            } else if (now - oldest.startedNanos - shared.handshakeTimeoutNanos >= 0) {
                begun.pollFirst();
                oldest.timedOut();
            } else {
                timers.schedule(timer, oldest.startedNanos + shared.handshakeTimeoutNanos);
                return;
            }
        }
    }
}
