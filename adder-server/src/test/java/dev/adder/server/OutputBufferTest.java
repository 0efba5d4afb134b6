package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.GatheringByteChannel;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The pending output of one connection, against an in-memory channel that takes what a test allows. */
class OutputBufferTest {

    private final ByteBuffer[] gather = new ByteBuffer[OutputBuffer.CHUNKS_PER_WRITE];

    /** Takes at most {@code allowance} bytes per write call, or throws when told to. */
    private static final class ScriptedChannel implements GatheringByteChannel {
        final ByteArrayOutputStream taken = new ByteArrayOutputStream();
        int allowance = Integer.MAX_VALUE;
        IOException failure;

        @Override
        public long write(ByteBuffer[] sources, int offset, int length) throws IOException {
            if (failure != null) {
                throw failure;
            }
            long written = 0;
            for (int i = offset; i < offset + length && written < allowance; i++) {
                ByteBuffer source = sources[i];
                int n = (int) Math.min(source.remaining(), allowance - written);
                byte[] bytes = new byte[n];
                source.get(bytes);
                taken.write(bytes, 0, n);
                written += n;
            }
            return written;
        }

        @Override
        public long write(ByteBuffer[] sources) throws IOException {
            return write(sources, 0, sources.length);
        }

        @Override
        public int write(ByteBuffer source) throws IOException {
            return (int) write(new ByteBuffer[] {source}, 0, 1);
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    private static byte[] bytes(int count, int seed) {
        byte[] bytes = new byte[count];
        for (int i = 0; i < count; i++) {
            bytes[i] = (byte) (i * 31 + seed);
        }
        return bytes;
    }

    @Test
    void bytesComeOutInTheOrderTheyWentInAcrossPartialWrites() throws IOException {
        OutputBuffer buffer = new OutputBuffer();
        ScriptedChannel channel = new ScriptedChannel();
        byte[] first = bytes(40_000, 1);
        byte[] second = bytes(3, 2);
        byte[] third = bytes(70_001, 3);
        buffer.append(ByteBuffer.wrap(first));
        channel.allowance = 12_345;
        assertEquals(12_345, buffer.writeTo(channel, gather));
        buffer.append(ByteBuffer.wrap(second));
        buffer.append(ByteBuffer.wrap(third));
        assertEquals(first.length + second.length + third.length - 12_345, buffer.size());
        channel.allowance = 999;
        long total = 12_345;
        while (!buffer.isEmpty()) {
            total += buffer.writeTo(channel, gather);
        }
        assertEquals(first.length + second.length + third.length, total);
        ByteArrayOutputStream expected = new ByteArrayOutputStream();
        expected.write(first, 0, first.length);
        expected.write(second, 0, second.length);
        expected.write(third, 0, third.length);
        assertArrayEquals(expected.toByteArray(), channel.taken.toByteArray());
        assertTrue(Arrays.stream(gather).allMatch(b -> b == null), "the scratch array keeps no chunk");
    }

    @Test
    void aWriteThatThrowsLeavesTheCountAndTheBytesAsTheyWere() throws IOException {
        OutputBuffer buffer = new OutputBuffer();
        ScriptedChannel channel = new ScriptedChannel();
        byte[] data = bytes(50_000, 7);
        buffer.append(ByteBuffer.wrap(data));
        channel.allowance = 1_000;
        buffer.writeTo(channel, gather);
        channel.failure = new IOException("Broken pipe");
        assertThrows(IOException.class, () -> buffer.writeTo(channel, gather));
        assertEquals(49_000, buffer.size(), "held bytes after a failed write");
        channel.failure = null;
        channel.allowance = Integer.MAX_VALUE;
        assertEquals(49_000, buffer.writeTo(channel, gather));
        assertArrayEquals(data, channel.taken.toByteArray());
        assertEquals(0, buffer.size());
    }

    @Test
    void aWriteStopsWhenTheChannelIsFullAndReturnsWhatItTook() throws IOException {
        OutputBuffer buffer = new OutputBuffer();
        ScriptedChannel channel = new ScriptedChannel();
        buffer.append(ByteBuffer.wrap(bytes(100_000, 9)));
        channel.allowance = 0;
        assertEquals(0, buffer.writeTo(channel, gather));
        assertEquals(100_000, buffer.size());
    }

    @Test
    void memoryHeldFollowsWhatIsPendingAndIsReleasedWhenDrained() throws IOException {
        OutputBuffer buffer = new OutputBuffer();
        ScriptedChannel channel = new ScriptedChannel();
        buffer.append(ByteBuffer.wrap(bytes(8, 0)));
        assertEquals(OutputBuffer.MIN_CHUNK_BYTES, buffer.capacity(), "one answer held costs the smallest chunk");
        for (int i = 0; i < 100; i++) {
            buffer.append(ByteBuffer.wrap(bytes(131_072, i)));
        }
        long held = buffer.size();
        // no doubling: at most one partly filled chunk beyond what is held, and the small ones it grew through
        assertTrue(buffer.capacity() <= held + 2L * OutputBuffer.CHUNK_BYTES,
                "capacity " + buffer.capacity() + " for " + held + " bytes held");
        channel.allowance = (int) (held - 100);
        buffer.writeTo(channel, gather);
        assertTrue(buffer.capacity() <= OutputBuffer.CHUNK_BYTES, "written chunks are released at once");
        channel.allowance = Integer.MAX_VALUE;
        buffer.writeTo(channel, gather);
        assertEquals(0, buffer.capacity(), "an empty buffer holds no memory");
    }

    @Test
    void appendConsumesItsSource() {
        OutputBuffer buffer = new OutputBuffer();
        ByteBuffer source = ByteBuffer.wrap(bytes(20_000, 4));
        source.position(5);
        buffer.append(source);
        assertEquals(0, source.remaining());
        assertEquals(19_995, buffer.size());
    }
}
