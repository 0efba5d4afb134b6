package dev.adder.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.adder.server.AdderServer;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class ClientExampleTest {

    @Test
    void readmeClientExampleGetsItsAnswers() throws IOException {
        // the example connects to unix:adder.sock in the working directory, as the README's daemon listens
        try (AdderServer server = AdderServer.builder().listen("unix:adder.sock").build()) {
            server.start();
            assertArrayEquals(new long[] {17, Long.MIN_VALUE, 11, 22, 33, 42}, ClientExample.run());
        }
    }
}
