package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The pending output of one connection, against an in-memory channel that takes what a test allows. */
class OutputBufferTest {

    private final ByteBuffer[] gather = new ByteBuffer[OutputBuffer.CHUNKS_PER_WRITE];

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
        MemoryChannel channel = new MemoryChannel();
        byte[] first = bytes(40_000, 1);
        byte[] second = bytes(3, 2);
        byte[] third = bytes(70_001, 3);
        buffer.append(ByteBuffer.wrap(first));
        channel.allowance = 12_345;
        assertEquals(12_345, buffer.writeTo(channel, gather));
        buffer.append(ByteBuffer.wrap(second));
        buffer.append(ByteBuffer.wrap(third));
        assertEquals(first.length + second.length + third.length - 12_345, buffer.size());
        long total = 12_345;
        while (!buffer.isEmpty()) {
            channel.allowance = 999; // a socket that takes a little at a time
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
        MemoryChannel channel = new MemoryChannel();
        byte[] data = bytes(50_000, 7);
        buffer.append(ByteBuffer.wrap(data));
        channel.allowance = 1_000;
        buffer.writeTo(channel, gather);
        channel.writeFailure = new IOException("Broken pipe");
        assertThrows(IOException.class, () -> buffer.writeTo(channel, gather));
        assertEquals(49_000, buffer.size(), "held bytes after a failed write");
        channel.writeFailure = null;
        channel.allowance = Long.MAX_VALUE;
        assertEquals(49_000, buffer.writeTo(channel, gather));
        assertArrayEquals(data, channel.taken.toByteArray());
        assertEquals(0, buffer.size());
    }

    @Test
    void aWriteStopsWhenTheChannelIsFullAndReturnsWhatItTook() throws IOException {
        OutputBuffer buffer = new OutputBuffer();
        MemoryChannel channel = new MemoryChannel();
        buffer.append(ByteBuffer.wrap(bytes(100_000, 9)));
        channel.allowance = 0;
        assertEquals(0, buffer.writeTo(channel, gather));
        assertEquals(100_000, buffer.size());
    }

    @Test
    void memoryHeldFollowsWhatIsPendingAndIsReleasedWhenDrained() throws IOException {
        OutputBuffer buffer = new OutputBuffer();
        MemoryChannel channel = new MemoryChannel();
        buffer.append(ByteBuffer.wrap(bytes(8, 0)));
        assertEquals(OutputBuffer.MIN_CHUNK_BYTES, buffer.capacity(), "one answer held costs the smallest chunk");
        for (int i = 0; i < 100; i++) {
            buffer.append(ByteBuffer.wrap(bytes(131_072, i)));
        }
        long held = buffer.size();
        // no doubling: at most one partly filled chunk beyond what is held, and the small ones it grew through
        assertTrue(buffer.capacity() <= held + 2L * OutputBuffer.CHUNK_BYTES,
                "capacity " + buffer.capacity() + " for " + held + " bytes held");
        channel.allowance = held - 100;
        buffer.writeTo(channel, gather);
        assertTrue(buffer.capacity() <= OutputBuffer.CHUNK_BYTES, "written chunks are released at once");
        channel.allowance = Long.MAX_VALUE;
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
