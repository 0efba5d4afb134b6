package dev.adder.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The test vectors of docs/protocol.md, read from that file, so the document and the code cannot drift apart. */
class ProtocolDocumentTest {

    /** docs/protocol.md, from the module's directory (where the build runs its tests) or the project's root. */
    private static Path document() {
        for (Path candidate : List.of(Path.of("..", "docs", "protocol.md"), Path.of("docs", "protocol.md"))) {
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        throw new AssertionError("docs/protocol.md not found from " + Path.of("").toAbsolutePath());
    }

    /** The rows of the vector table: x, y, request hex, answer hex, sum. */
    private static List<String[]> vectors() throws IOException {
        List<String[]> rows = new ArrayList<>();
        for (String line : Files.readAllLines(document())) {
            if (line.matches("\\| -?\\d+ \\| -?\\d+ \\| `[0-9a-f]{32}` \\| `[0-9a-f]{16}` \\| -?\\d+ \\|")) {
                String[] cells = line.substring(1, line.length() - 1).split("\\|");
                String[] row = new String[cells.length];
                for (int i = 0; i < cells.length; i++) {
                    row[i] = cells[i].trim().replace("`", "");
                }
                rows.add(row);
            }
        }
        return rows;
    }

    @Test
    void everyVectorOfTheDocumentEncodesDecodesAndAddsAsWritten() throws IOException {
        List<String[]> rows = vectors();
        assertEquals(9, rows.size(), "vectors found in docs/protocol.md");
        HexFormat hex = HexFormat.of();
        for (String[] row : rows) {
            long x = Long.parseLong(row[0]);
            long y = Long.parseLong(row[1]);
            long sum = Long.parseLong(row[4]);
            ByteBuffer request = ByteBuffer.allocate(Protocol.REQUEST_BYTES);
            Protocol.encodeRequest(request, x, y);
            assertEquals(row[2], hex.formatHex(request.array()), "request for " + x + ", " + y);
            assertEquals(sum, Protocol.answer(x, y), x + " + " + y);
            ByteBuffer answer = ByteBuffer.allocate(Protocol.RESPONSE_BYTES);
            Protocol.encodeResponse(answer, sum);
            assertEquals(row[3], hex.formatHex(answer.array()), "answer " + sum);
            assertEquals(sum, Protocol.decodeResponse(ByteBuffer.wrap(hex.parseHex(row[3]))));
            List<long[]> decoded = new ArrayList<>();
            new RequestDecoder().decode(ByteBuffer.wrap(hex.parseHex(row[2])), (a, b) -> decoded.add(new long[] {a, b}));
            assertEquals(1, decoded.size());
            assertTrue(decoded.get(0)[0] == x && decoded.get(0)[1] == y, "decoded " + row[2]);
        }
    }
}
