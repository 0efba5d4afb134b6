package dev.adder.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

class RequestDecoderTest {

    /** Collects decoded requests as a flat x0, y0, x1, y1, ... array. */
    private static final class Collected implements RequestDecoder.Sink {
        long[] values = new long[64];
        int size;

        @Override
        public void request(long x, long y) {
            if (size + 2 > values.length) {
                values = Arrays.copyOf(values, values.length * 2);
            }
            values[size++] = x;
            values[size++] = y;
        }

        long[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }

    private static final long[] VALUES = {
        7, 10, 0, 0, -1, 1, Long.MAX_VALUE, 1, Long.MIN_VALUE, -1, 123456789012345L, -98765432109876L,
        0x0102030405060708L, Long.MAX_VALUE,
    };

    private static byte[] encode(long[] flat) {
        ByteBuffer buffer = ByteBuffer.allocate(flat.length * 8);
        for (int i = 0; i < flat.length; i += 2) {
            Protocol.encodeRequest(buffer, flat[i], flat[i + 1]);
        }
        return buffer.array();
    }

    /** Feeds the stream in pieces ending at the given cut positions. */
    private static long[] decodeWithCuts(byte[] stream, int[] cuts) {
        RequestDecoder decoder = new RequestDecoder();
        Collected collected = new Collected();
        int from = 0;
        for (int cut : cuts) {
            decoder.decode(ByteBuffer.wrap(stream, from, cut - from), collected);
            from = cut;
        }
        decoder.decode(ByteBuffer.wrap(stream, from, stream.length - from), collected);
        assertEquals(0, decoder.pendingBytes());
        return collected.toArray();
    }

    @Test
    void everySingleCutDecodesTheSameRequests() {
        byte[] stream = encode(VALUES);
        for (int cut = 0; cut <= stream.length; cut++) {
            assertArrayEquals(VALUES, decodeWithCuts(stream, new int[] {cut}), "cut at byte " + cut);
        }
    }

    @Test
    void randomMultiCutSplittingsDecodeTheSameRequests() {
        long seed = 20261124L;
        System.out.println("RequestDecoderTest random splittings: seed " + seed);
        Random random = new Random(seed);
        long[] values = LongStream.generate(random::nextLong).limit(2 * 200).toArray();
        byte[] stream = encode(values);
        for (int round = 0; round < 2_000; round++) {
            int[] cuts = random.ints(random.nextInt(40), 0, stream.length + 1).sorted().toArray();
            assertArrayEquals(values, decodeWithCuts(stream, cuts),
                    "seed " + seed + ", round " + round + ", cuts " + Arrays.toString(cuts));
        }
    }

    @Test
    void oneByteFeedsDecodeEachRequestOnItsLastByte() {
        byte[] stream = encode(VALUES);
        RequestDecoder decoder = new RequestDecoder();
        Collected collected = new Collected();
        for (int i = 0; i < stream.length; i++) {
            int decoded = decoder.decode(ByteBuffer.wrap(stream, i, 1), collected);
            boolean lastByteOfFrame = (i + 1) % Protocol.REQUEST_BYTES == 0;
            assertEquals(lastByteOfFrame ? 1 : 0, decoded, "byte " + i);
            assertEquals((i + 1) % Protocol.REQUEST_BYTES, decoder.pendingBytes(), "byte " + i);
        }
        assertArrayEquals(VALUES, collected.toArray());
    }

    @Test
    void zeroByteFeedChangesNothing() {
        RequestDecoder decoder = new RequestDecoder();
        Collected collected = new Collected();
        assertEquals(0, decoder.decode(ByteBuffer.allocate(0), collected));
        byte[] stream = encode(new long[] {7, 10});
        decoder.decode(ByteBuffer.wrap(stream, 0, 5), collected);
        assertEquals(0, decoder.decode(ByteBuffer.allocate(0), collected));
        assertEquals(5, decoder.pendingBytes());
        assertEquals(1, decoder.decode(ByteBuffer.wrap(stream, 5, 11), collected));
        assertArrayEquals(new long[] {7, 10}, collected.toArray());
    }

    @Test
    void feedEndingOnAFrameBoundaryLeavesNothingPending() {
        RequestDecoder decoder = new RequestDecoder();
        Collected collected = new Collected();
        assertEquals(VALUES.length / 2, decoder.decode(ByteBuffer.wrap(encode(VALUES)), collected));
        assertEquals(0, decoder.pendingBytes());
        assertArrayEquals(VALUES, collected.toArray());
    }

    @Test
    void fifteenBytesArePendingAndTheSixteenthCompletesTheRequest() {
        RequestDecoder decoder = new RequestDecoder();
        Collected collected = new Collected();
        byte[] stream = encode(new long[] {-5, -7});
        assertEquals(0, decoder.decode(ByteBuffer.wrap(stream, 0, 15), collected));
        assertEquals(15, decoder.pendingBytes());
        assertEquals(1, decoder.decode(ByteBuffer.wrap(stream, 15, 1), collected));
        assertArrayEquals(new long[] {-5, -7}, collected.toArray());
    }

    @Test
    void threeRequestsAndAHalfInOneFeedLeaveTheHalfPending() {
        long[] four = {1, 2, 3, 4, 5, 6, 7, 8};
        byte[] stream = encode(four);
        RequestDecoder decoder = new RequestDecoder();
        Collected collected = new Collected();
        assertEquals(3, decoder.decode(ByteBuffer.wrap(stream, 0, 56), collected));
        assertEquals(8, decoder.pendingBytes());
        assertEquals(1, decoder.decode(ByteBuffer.wrap(stream, 56, 8), collected));
        assertArrayEquals(four, collected.toArray());
    }

    @Test
    void thousandsOfRequestsInOneFeedAreAllDecoded() {
        long[] values = LongStream.range(0, 2 * 10_000).map(i -> i * 0x9E3779B97F4A7C15L).toArray();
        RequestDecoder decoder = new RequestDecoder();
        Collected collected = new Collected();
        // a direct buffer, as the server uses, with a stale big-endian order
        byte[] stream = encode(values);
        ByteBuffer direct = ByteBuffer.allocateDirect(stream.length).put(stream).flip();
        assertEquals(10_000, decoder.decode(direct, collected));
        assertArrayEquals(values, collected.toArray());
    }
}
