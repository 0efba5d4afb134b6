package dev.adder.server;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.GatheringByteChannel;
import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * Answers waiting for a client that reads more slowly than it asks: a queue
 * of heap chunks, so the memory held follows what is pending (at most one
 * partly used chunk at each end) instead of doubling, and drained chunks are
 * released at once.
 *
 * <p>{@link #size()} is a single count changed only by {@link #append} and by
 * the bytes a write really took: no path, not even a write that throws,
 * leaves it wrong. Chunks are never flipped; each is a buffer whose position
 * is the next byte to write and whose limit is the end of what was appended.
 */
final class OutputBuffer {

    /** A full chunk: large enough that a write of several takes few system calls. */
    static final int CHUNK_BYTES = 16 * 1024;
    /**
     * The smallest chunk: a client a little behind holds a few answers, not a
     * full chunk, so thousands of such clients cost little.
     */
    static final int MIN_CHUNK_BYTES = 256;
    /** Chunks handed to one gathering write: the length of the caller's scratch array. */
    static final int CHUNKS_PER_WRITE = 16;

    /** Made at the first answer held: most connections never hold one, and thousands may be open. */
    private ArrayDeque<ByteBuffer> chunks;
    private long size;

    /** Bytes appended and not yet written. */
    long size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }

    /** Copies every remaining byte of {@code source} to the end of the buffer. */
    void append(ByteBuffer source) {
        int count = source.remaining();
        if (chunks == null) {
            chunks = new ArrayDeque<>(4);
        }
        while (source.hasRemaining()) {
            ByteBuffer tail = chunks.peekLast();
            if (tail == null || tail.limit() == tail.capacity()) {
                tail = newChunk(source.remaining(), tail);
                chunks.addLast(tail);
            }
            int end = tail.limit();
            int n = Math.min(source.remaining(), tail.capacity() - end);
            tail.limit(end + n);
            tail.put(end, source, source.position(), n);
            source.position(source.position() + n);
        }
        size += count;
    }

    /**
     * Grows geometrically from the size of the first append up to a full
     * chunk: small backlogs stay small, large ones use full chunks.
     */
    private static ByteBuffer newChunk(int wanted, ByteBuffer previous) {
        int capacity = wanted >= CHUNK_BYTES ? CHUNK_BYTES : Integer.highestOneBit(Math.max(1, wanted - 1)) << 1;
        if (previous != null) {
            capacity = Math.max(capacity, previous.capacity() * 2);
        }
        capacity = Math.max(MIN_CHUNK_BYTES, Math.min(CHUNK_BYTES, capacity));
        return ByteBuffer.allocate(capacity).limit(0);
    }

    /**
     * Writes as much as the channel takes, oldest bytes first, and releases
     * every chunk fully written. Returns the bytes written. If the write
     * throws, the buffer and its size are as they were.
     *
     * @param gather scratch space of {@link #CHUNKS_PER_WRITE} slots, owned by
     *        the caller so that an idle connection does not hold one; left empty
     */
    long writeTo(GatheringByteChannel channel, ByteBuffer[] gather) throws IOException {
        long total = 0;
        while (size > 0) {
            int count = 0;
            long offered = 0;
            for (ByteBuffer chunk : chunks) {
                gather[count++] = chunk;
                offered += chunk.remaining();
                if (count == gather.length) {
                    break;
                }
            }
            long written;
            try {
                written = channel.write(gather, 0, count);
            } finally {
                Arrays.fill(gather, 0, count, null);
            }
            size -= written;
            total += written;
            while (!chunks.isEmpty() && !chunks.peekFirst().hasRemaining()) {
                chunks.removeFirst();
            }
            if (written < offered) {
                break; // the socket is full
            }
        }
        return total;
    }

    /** Drops everything held: the connection is gone. */
    void clear() {
        if (chunks != null) {
            chunks.clear();
        }
        size = 0;
    }

    /** Heap bytes the chunks occupy: what this buffer really costs. */
    long capacity() {
        long capacity = 0;
        if (chunks == null) {
            return 0;
        }
        for (ByteBuffer chunk : chunks) {
            capacity += chunk.capacity();
        }
        return capacity;
    }
}
