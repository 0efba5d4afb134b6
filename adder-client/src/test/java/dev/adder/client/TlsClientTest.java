package dev.adder.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import dev.adder.testing.Skip;
import dev.adder.testing.TestTls;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The client over TLS, against the server over TLS: every call as over TCP, and the failures a TLS client meets. */
class TlsClientTest {

    @TempDir
    Path dir;

    private AdderServer start(TestTls tls, String listen, boolean mutual) throws IOException {
        AdderServer.Builder builder = AdderServer.builder().listen(listen).tls(tls.serverCert(), tls.serverKey());
        if (mutual) {
            builder.tlsClientCa(tls.ca());
        }
        AdderServer server = builder.build();
        server.start();
        return server;
    }

    private static String at(AdderServer server, String host) {
        return "tls:" + host + ":" + server.addresses().get(0).port();
    }

    @Test
    void callsOfEveryKindAreAnsweredOverTls() throws Exception {
        TestTls tls = TestTls.in(dir);
        try (AdderServer server = start(tls, "tls:127.0.0.1:0", false);
             AdderClient client = AdderClient.builder(at(server, "127.0.0.1")).tlsCa(tls.ca()).connect()) {
            assertEquals(17, client.add(7, 10));
            assertEquals(Long.MIN_VALUE, client.add(Long.MAX_VALUE, 1));
            List<CompletableFuture<Long>> futures = new ArrayList<>();
            for (int i = 0; i < 10_000; i++) {
                futures.add(client.addAsync(i, i));
            }
            for (int i = 0; i < futures.size(); i++) {
                assertEquals(2L * i, futures.get(i).get(10, TimeUnit.SECONDS));
            }
            long[] xs = new long[300_000];
            long[] ys = new long[xs.length];
            long[] expected = new long[xs.length];
            for (int i = 0; i < xs.length; i++) {
                xs[i] = i;
                ys[i] = -3L * i;
                expected[i] = -2L * i;
            }
            assertArrayEquals(expected, client.addAll(xs, ys));
        }
    }

    @Test
    void manyThreadsShareOneTlsConnection() throws Exception {
        TestTls tls = TestTls.in(dir);
        try (AdderServer server = start(tls, "tls:127.0.0.1:0", false);
             AdderClient client = AdderClient.builder(at(server, "localhost")).tlsCa(tls.ca()).connect()) {
            List<Thread> threads = new ArrayList<>();
            List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
            for (int t = 0; t < 8; t++) {
                long base = t * 1_000_000L;
                Thread thread = new Thread(() -> {
                    try {
                        for (long i = 0; i < 2_000; i++) {
                            assertEquals(base + 2 * i, client.add(base + i, i));
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                });
                threads.add(thread);
                thread.start();
            }
            for (Thread thread : threads) {
                thread.join();
            }
            assertEquals(List.of(), failures);
        }
    }

    @Test
    void virtualThreadsShareOneTlsConnection() throws Throwable {
        Skip.unless(Runtime.version().feature() >= 21,
                "virtual threads need Java 21 or later; .ci/run runs this test again on such a JDK");
        TestTls tls = TestTls.in(dir);
        AtomicLong wrong = new AtomicLong();
        try (AdderServer server = start(tls, "tls:127.0.0.1:0", false);
             AdderClient client = AdderClient.builder(at(server, "127.0.0.1")).tlsCa(tls.ca()).connect()) {
            ExecutorService virtual = (ExecutorService) MethodHandles.publicLookup().findStatic(Executors.class,
                    "newVirtualThreadPerTaskExecutor", MethodType.methodType(ExecutorService.class)).invoke();
            for (int t = 0; t < 1_000; t++) {
                long base = t * 1_000L;
                virtual.submit(() -> {
                    for (long i = 0; i < 20; i++) {
                        if (client.add(base + i, i) != base + 2 * i) {
                            wrong.incrementAndGet();
                        }
                    }
                });
            }
            virtual.shutdown();
            assertTrue(virtual.awaitTermination(100, TimeUnit.SECONDS));
            assertEquals(0, wrong.get(), "answers handed to the wrong caller");
            assertEquals(1_000 * 20, server.stats().requests());
            assertEquals(1, server.stats().accepted(), "one TLS connection for every caller");
        }
    }

    @Test
    void mutualTlsNeedsTheClientsCertificate() throws IOException {
        TestTls tls = TestTls.in(dir);
        try (AdderServer server = start(tls, "tls:127.0.0.1:0", true)) {
            try (AdderClient client = AdderClient.builder(at(server, "127.0.0.1")).tlsCa(tls.ca())
                    .tlsCertificate(tls.file("client.pem"), tls.file("client.key")).connect()) {
                assertEquals(17, client.add(7, 10));
            }
            long start = System.nanoTime();
            AdderException refused = assertThrows(AdderException.class, () -> {
                try (AdderClient client = AdderClient.builder(at(server, "127.0.0.1")).tlsCa(tls.ca())
                        .callTimeout(Duration.ofSeconds(5)).connect()) {
                    client.add(7, 10); // TLS 1.3: the server's refusal may come after the client's handshake ends
                }
            });
            assertTrue(refused.getMessage().startsWith("cannot connect to " + at(server, "127.0.0.1")
                    + ": TLS handshake failed: ") || refused.getMessage().startsWith("call to " + at(server, "127.0.0.1")
                    + " failed: the server ended TLS: "), refused.getMessage());
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "a refusal is not replayed until the deadline");
        }
    }

    @Test
    void aServerCertificateThatDoesNotVerifyFailsTheConnectInOneLine() throws IOException {
        TestTls tls = TestTls.in(dir);
        try (AdderServer server = start(tls, "tls:0.0.0.0:0", false)) {
            // the JDK's trust store knows nothing of the test CA
            AdderException untrusted = assertThrows(AdderException.class,
                    () -> AdderClient.builder(at(server, "127.0.0.1")).connect().close());
            assertTrue(untrusted.getMessage().startsWith("cannot connect to " + at(server, "127.0.0.1")
                    + ": TLS handshake failed: "), untrusted.getMessage());
            assertTrue(!untrusted.getMessage().contains("\n"), untrusted.getMessage());
            // trusted, but issued for localhost, 127.0.0.1 and ::1, not for 127.0.0.2
            AdderException wrongName = assertThrows(AdderException.class,
                    () -> AdderClient.builder(at(server, "127.0.0.2")).tlsCa(tls.ca()).connect().close());
            assertTrue(wrongName.getMessage().startsWith("cannot connect to " + at(server, "127.0.0.2")
                    + ": TLS handshake failed: "), wrongName.getMessage());
        }
    }

    @Test
    void aTlsClientOfAPlainServerFailsWithinItsConnectTimeout() throws IOException {
        TestTls tls = TestTls.in(dir);
        try (AdderServer server = AdderServer.builder().listen("tcp:127.0.0.1:0").build()) {
            server.start();
            String address = "tls:127.0.0.1:" + server.addresses().get(0).port();
            long start = System.nanoTime();
            assertThrows(AdderException.class, () -> AdderClient.builder(address).tlsCa(tls.ca())
                    .connectTimeout(Duration.ofSeconds(2)).replay(false).connect().close());
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(30));
        }
    }

    @Test
    void tlsFilesThatCannotBeUsedAreNamedWhenGiven() throws IOException {
        TestTls tls = TestTls.in(dir);
        AdderClient.Builder builder = AdderClient.builder("tls:localhost:1");
        IOException missing = assertThrows(IOException.class, () -> builder.tlsCa(dir.resolve("nope.pem")));
        assertTrue(missing.getMessage().contains(dir.resolve("nope.pem").toString()), missing.getMessage());
        Path pkcs1 = dir.resolve("rsa.key");
        Files.writeString(pkcs1, "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n");
        IOException converted = assertThrows(IOException.class,
                () -> builder.tlsCertificate(tls.file("client.pem"), pkcs1));
        assertTrue(converted.getMessage().contains("openssl pkcs8 -topk8 -nocrypt -in " + pkcs1),
                converted.getMessage());
        assertThrows(IllegalStateException.class,
                () -> AdderClient.builder("tcp:127.0.0.1:1").tlsCa(tls.ca()).connect());
    }

    @Test
    void replayedCallsCrossARestartOfATlsServer() throws Exception {
        TestTls tls = TestTls.in(dir);
        AdderServer first = start(tls, "tls:127.0.0.1:0", false);
        AdderAddress address = first.addresses().get(0);
        try (AdderClient client = AdderClient.builder(at(first, "127.0.0.1")).tlsCa(tls.ca()).connect()) {
            assertEquals(3, client.add(1, 2));
            first.close();
            AdderServer second = start(tls, "tls:127.0.0.1:" + address.port(), false);
            try {
                assertEquals(7, client.add(3, 4));
            } finally {
                second.close();
            }
        }
    }
}
