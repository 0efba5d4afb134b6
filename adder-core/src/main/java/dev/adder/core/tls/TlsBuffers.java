package dev.adder.core.tls;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;

/**
 * The buffers every {@link TlsPipe} of one thread passes records through
 * (one read's and one write's worth, four records each), and a few spare
 * record-sized buffers for the unfinished records pipes hold between reads.
 * Public for the same reason as the pipe; one thread uses it.
 *
 * <p>The invariant: {@code in} and {@code out} hold nothing between two
 * calls of a pipe; the spares hold nothing at all, and there are at most
 * {@value #MAX_SPARES} of them, so what this keeps stays bounded however
 * many pipes come and go.
 */
public final class TlsBuffers {

    /** Spare buffers kept for reuse; more are made when needed, and dropped when given back. */
    static final int MAX_SPARES = 16;
    private static final int RECORDS_PER_BUFFER = 4;

    ByteBuffer in;
    ByteBuffer out;
    final ByteBuffer[] one = new ByteBuffer[1];
    private int packetBytes;
    private final ArrayDeque<ByteBuffer> spares = new ArrayDeque<>();

    /** Buffers sized when the first pipe comes. */
    public TlsBuffers() {
    }

    /** Grows the buffers to fit records of {@code bytes}; the first pipe sizes them. */
    void fit(int bytes) {
        if (bytes <= packetBytes) {
            return;
        }
        packetBytes = bytes;
        in = ByteBuffer.allocateDirect(RECORDS_PER_BUFFER * bytes);
        out = ByteBuffer.allocateDirect(RECORDS_PER_BUFFER * bytes);
        spares.clear();
    }

    int packetBytes() {
        return packetBytes;
    }

    /** An empty record-sized buffer, to hold an unfinished record. */
    ByteBuffer take() {
        ByteBuffer spare = spares.pollFirst();
        return spare != null ? spare : ByteBuffer.allocate(packetBytes);
    }

    void give(ByteBuffer buffer) {
        if (buffer.capacity() == packetBytes && spares.size() < MAX_SPARES) {
            buffer.clear();
            spares.addFirst(buffer);
        }
    }
}
