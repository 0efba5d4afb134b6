package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class EmbeddingExampleTest {

    @Test
    void readmeEmbeddingExampleStartsServesAndCleansUp() throws Exception {
        PrintStream original = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            // what a loaded machine makes the loop log meanwhile: it must not land in what the example prints
            LoggerFactory.getLogger(LoopHealth.class).warn("a slow turn, as on a loaded machine");
            EmbeddingExample.main(new String[0]);
        } finally {
            System.setOut(original);
        }
        String printed = captured.toString(StandardCharsets.UTF_8);
        assertTrue(printed.matches("listening on \\[unix:adder\\.sock, tcp:127\\.0\\.0\\.1:[1-9][0-9]*]\\R"), printed);
        assertFalse(Files.exists(Path.of("adder.sock"), LinkOption.NOFOLLOW_LINKS));
    }
}
