package dev.adder.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ProtocolTest {

    /** The test vectors of PROTOCOL.md, exactly as the table gives them. */
    @ParameterizedTest(name = "{0} + {1} = {4}")
    @CsvSource({
        "7, 10, 07000000000000000a00000000000000, 1100000000000000, 17",
        "0, 0, 00000000000000000000000000000000, 0000000000000000, 0",
        "-1, 1, ffffffffffffffff0100000000000000, 0000000000000000, 0",
        "-5, -7, fbfffffffffffffff9ffffffffffffff, f4ffffffffffffff, -12",
        "9223372036854775807, 1, ffffffffffffff7f0100000000000000, 0000000000000080, -9223372036854775808",
        "-9223372036854775808, -1, 0000000000000080ffffffffffffffff, ffffffffffffff7f, 9223372036854775807",
        "9223372036854775807, 9223372036854775807, ffffffffffffff7fffffffffffffff7f, feffffffffffffff, -2",
        "123456789012345, -98765432109876, 79df0d8648700000ccc480612ca6ffff, 45a48ee774160000, 24691356902469",
        "72623859790382856, 0, 08070605040302010000000000000000, 0807060504030201, 72623859790382856",
    })
    void testVectorsHoldInBothDirections(long x, long y, String requestHex, String responseHex, long sum) {
        HexFormat hex = HexFormat.of();
        assertEquals(sum, Protocol.answer(x, y));

        // encoding: values to bytes, whatever order the buffer was left in
        for (ByteOrder order : new ByteOrder[] {ByteOrder.BIG_ENDIAN, ByteOrder.LITTLE_ENDIAN}) {
            ByteBuffer request = ByteBuffer.allocate(Protocol.REQUEST_BYTES).order(order);
            Protocol.encodeRequest(request, x, y);
            assertEquals(requestHex, hex.formatHex(request.array()));
            ByteBuffer response = ByteBuffer.allocate(Protocol.RESPONSE_BYTES).order(order);
            Protocol.encodeResponse(response, sum);
            assertEquals(responseHex, hex.formatHex(response.array()));
        }

        // decoding: bytes to values
        List<long[]> decoded = new ArrayList<>();
        new RequestDecoder().decode(ByteBuffer.wrap(hex.parseHex(requestHex)), (a, b) -> decoded.add(new long[] {a, b}));
        assertEquals(1, decoded.size());
        assertEquals(x, decoded.get(0)[0]);
        assertEquals(y, decoded.get(0)[1]);
        assertEquals(sum, Protocol.decodeResponse(ByteBuffer.wrap(hex.parseHex(responseHex))));
    }

    @Test
    void additionWrapsAroundLikeJavaLong() {
        assertEquals(Long.MIN_VALUE, Protocol.answer(Long.MAX_VALUE, 1));
        assertEquals(Long.MAX_VALUE, Protocol.answer(Long.MIN_VALUE, -1));
        assertEquals(-2, Protocol.answer(Long.MAX_VALUE, Long.MAX_VALUE));
        assertEquals(0, Protocol.answer(Long.MIN_VALUE, Long.MIN_VALUE));
    }

    @Test
    void overflowIsDetectedFromOperandsAndSum() {
        assertTrue(Protocol.overflowed(Long.MAX_VALUE, 1, Long.MAX_VALUE + 1));
        assertTrue(Protocol.overflowed(Long.MIN_VALUE, -1, Long.MIN_VALUE - 1));
        assertTrue(Protocol.overflowed(Long.MIN_VALUE, Long.MIN_VALUE, 0));
        assertFalse(Protocol.overflowed(Long.MAX_VALUE, Long.MIN_VALUE, -1));
        assertFalse(Protocol.overflowed(Long.MAX_VALUE, 0, Long.MAX_VALUE));
        assertFalse(Protocol.overflowed(-5, -7, -12));
        assertFalse(Protocol.overflowed(Long.MIN_VALUE, 0, Long.MIN_VALUE));
    }
}
