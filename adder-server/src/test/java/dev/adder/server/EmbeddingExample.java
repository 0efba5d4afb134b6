package dev.adder.server;

import java.time.Duration;

/** The embedding example of the README, verbatim; EmbeddingExampleTest runs it. */
final class EmbeddingExample {
    static void main(String[] args) throws Exception {
        try (AdderServer server = AdderServer.builder()
                .listen("unix:adder.sock")          // a socket file in the working directory
                .listen("tcp:127.0.0.1:0")          // and any free loopback port
                .idleTimeout(Duration.ofMinutes(5)) // optional: every limit has a default
                .build()) {
            server.start();                         // returns once clients can connect
            System.out.println("listening on " + server.addresses());
            // ... the application runs; close() answers what was received, then stops
        }
    }
}
