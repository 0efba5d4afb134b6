package dev.adder.server;

import dev.adder.core.Protocol;
import dev.adder.core.RequestDecoder;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What every connection of one loop shares: the loop-owned buffers a read
 * and its answers pass through, the limits, the counters, the output budget
 * and the clock. Loop thread only.
 */
final class Serving {

    /**
     * One read per connection per turn takes up to this much: a Unix socket's
     * default send buffer fits in it, and one turn's answers fit in {@code out}.
     */
    static final int READ_BUFFER_BYTES = 256 * 1024;
    /** The most answers one read produces. */
    static final int ONE_READS_ANSWERS = (READ_BUFFER_BYTES / Protocol.REQUEST_BYTES + 1) * Protocol.RESPONSE_BYTES;

    final ByteBuffer in = ByteBuffer.allocateDirect(READ_BUFFER_BYTES).order(Protocol.BYTE_ORDER);
    final ByteBuffer out = ByteBuffer.allocateDirect(ONE_READS_ANSWERS).order(Protocol.BYTE_ORDER);
    /** Made once: a lambda evaluated per read would allocate. */
    final RequestDecoder.Sink answer = (x, y) -> Protocol.encodeResponse(out, Protocol.answer(x, y));
    /** Scratch for gathering writes of pending output. */
    final ByteBuffer[] gather = new ByteBuffer[OutputBuffer.CHUNKS_PER_WRITE];
    final int maxPendingOutput;
    final LoopStats stats;
    final OutputBudget budget;
    final Clock clock;
    /** The loop's count of connections given to it, lowered as each closes (see {@link EventLoop#assigned}). */
    final AtomicInteger assigned;

    Serving(int maxPendingOutput, long maxPendingOutputTotal, LoopStats stats, Clock clock) {
        this(maxPendingOutput, maxPendingOutputTotal, stats, clock, new AtomicInteger());
    }

    Serving(int maxPendingOutput, long maxPendingOutputTotal, LoopStats stats, Clock clock, AtomicInteger assigned) {
        this.maxPendingOutput = maxPendingOutput;
        this.stats = stats;
        this.clock = clock;
        this.assigned = assigned;
        this.budget = new OutputBudget(maxPendingOutputTotal, stats, clock);
    }
}
