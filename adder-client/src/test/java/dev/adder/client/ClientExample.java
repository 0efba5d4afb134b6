package dev.adder.client;

import java.util.concurrent.CompletableFuture;

/** The client example of the README, verbatim; ClientExampleTest runs it. */
final class ClientExample {
    static long[] run() {
        try (AdderClient client = AdderClient.connect("unix:adder.sock")) {
            long sum = client.add(7, 10);                                  // 17
            long wrapped = client.add(Long.MAX_VALUE, 1);                  // Long.MIN_VALUE, like Java's +
            long[] sums = client.addAll(new long[] {1, 2, 3}, new long[] {10, 20, 30}); // pipelined
            CompletableFuture<Long> later = client.addAsync(40, 2);        // 42, when it comes
            return new long[] {sum, wrapped, sums[0], sums[1], sums[2], later.join()};
        }
    }
}
