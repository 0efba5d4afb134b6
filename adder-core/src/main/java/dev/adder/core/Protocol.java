package dev.adder.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The adder wire protocol, version 1: a request is two signed 64-bit integers
 * {@code x} and {@code y}, a response is their sum, all little-endian, with
 * two's-complement wrap-around exactly like Java's {@code long} addition.
 * There is no header, no handshake and no error channel.
 *
 * <p>Every method that takes a {@link ByteBuffer} reads or writes at the
 * buffer's position and advances it. The buffer's own byte order does not
 * matter: these methods always use {@link #BYTE_ORDER}.
 */
public final class Protocol {

    /** Size of a request frame: {@code x} then {@code y}. */
    public static final int REQUEST_BYTES = 16;

    /** Size of a response frame: {@code x + y}. */
    public static final int RESPONSE_BYTES = 8;

    /**
     * Byte order on the wire. Little-endian because the original teaching
     * client packs with Python's native {@code struct.pack('q', n)} on x86-64;
     * note that {@link ByteBuffer} defaults to big-endian.
     */
    public static final ByteOrder BYTE_ORDER = ByteOrder.LITTLE_ENDIAN;

    private Protocol() {
    }

    /**
     * The answer to a request: {@code x + y}, wrapping around on overflow.
     *
     * @param x the first operand
     * @param y the second operand
     * @return the sum
     */
    public static long answer(long x, long y) {
        return x + y;
    }

    /**
     * Whether {@code sum}, the answer to {@code x + y}, wrapped around: both
     * operands have the same sign and the sum's sign differs from it.
     *
     * @param x the first operand
     * @param y the second operand
     * @param sum the answer received
     * @return true if the true sum does not fit in a {@code long}
     */
    public static boolean overflowed(long x, long y, long sum) {
        return ((x ^ sum) & (y ^ sum)) < 0;
    }

    /**
     * Writes one request frame: 16 bytes.
     *
     * @param out where to write, at its position
     * @param x the first operand
     * @param y the second operand
     */
    public static void encodeRequest(ByteBuffer out, long x, long y) {
        putLong(out, x);
        putLong(out, y);
    }

    /**
     * Writes one response frame: 8 bytes.
     *
     * @param out where to write, at its position
     * @param sum the answer
     */
    public static void encodeResponse(ByteBuffer out, long sum) {
        putLong(out, sum);
    }

    /**
     * Reads one response frame: 8 bytes.
     *
     * @param in where to read, at its position
     * @return the answer
     */
    public static long decodeResponse(ByteBuffer in) {
        return getLong(in);
    }

    static long getLong(ByteBuffer in) {
        long raw = in.getLong();
        return in.order() == BYTE_ORDER ? raw : Long.reverseBytes(raw);
    }

    static void putLong(ByteBuffer out, long value) {
        out.putLong(out.order() == BYTE_ORDER ? value : Long.reverseBytes(value));
    }
}
