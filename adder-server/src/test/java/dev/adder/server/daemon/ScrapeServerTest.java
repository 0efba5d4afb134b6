package dev.adder.server.daemon;

import static dev.adder.server.daemon.RawHttp.awaitClosedByPeer;
import static dev.adder.server.daemon.RawHttp.exchange;
import static dev.adder.server.daemon.RawHttp.halfSent;
import static dev.adder.server.daemon.RawHttp.request;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.server.daemon.RawHttp.Answer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The metrics endpoint's HTTP side on real TCP sockets: what it answers, and
 * that a client misbehaving in any of the bounded ways neither stops scrapes
 * nor keeps what it took. Limits that a test does not exercise are long, so
 * that no outcome depends on how fast this machine is.
 */
@Timeout(120)
class ScrapeServerTest {

    private static final Duration LONG = Duration.ofSeconds(60);
    private static final Duration AWAIT = Duration.ofSeconds(30);
    private static final String TYPE = "text/plain; version=0.0.4; charset=utf-8";
    private static final byte[] BODY = "# TYPE up gauge\nup 1\n".getBytes(StandardCharsets.UTF_8);
    private static final String HALF = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"; // no blank line: never whole

    private final AtomicInteger scrapes = new AtomicInteger();
    private final List<Socket> clients = new ArrayList<>();
    private ScrapeServer server;

    private ScrapeServer start(ScrapeLimits limits) throws IOException {
        return start(limits, new ScrapeServer.Scrape(TYPE, BODY));
    }

    private ScrapeServer start(ScrapeLimits limits, ScrapeServer.Scrape scrape) throws IOException {
        server = ScrapeServer.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), accept -> {
            scrapes.incrementAndGet();
            return scrape;
        }, limits);
        return server;
    }

    private static ScrapeLimits limits(int maxConnections) {
        return new ScrapeLimits(maxConnections, 4096, LONG, LONG);
    }

    private Socket held(String bytes) throws IOException {
        Socket socket = halfSent(server.port(), bytes);
        clients.add(socket);
        return socket;
    }

    @AfterEach
    void closeAll() throws IOException {
        for (Socket client : clients) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private Answer get() throws IOException {
        return request(server.port(), "GET", "/metrics");
    }

    @Test
    void getAnswersTheScrapeWithItsTypeAndLengthAndCloses() throws IOException {
        start(limits(64));
        Answer answer = exchange(server.port(), "GET /metrics?name[]=up HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
        assertEquals(200, answer.status());
        assertEquals(TYPE, answer.headers().get("content-type"));
        assertEquals(Integer.toString(BODY.length), answer.headers().get("content-length"));
        assertEquals("close", answer.headers().get("connection"));
        assertTrue(answer.headers().get("date").endsWith(" GMT"), answer.headers().toString());
        assertArrayEquals(BODY, answer.body()); // and the stream ended there: the connection is closed
        // HTTP/1.0 (no Host needed) and the absolute form are requests for /metrics too
        assertEquals(200, exchange(server.port(), "GET /metrics HTTP/1.0\r\n\r\n").status());
        assertEquals(200, exchange(server.port(), "GET http://127.0.0.1/metrics HTTP/1.1\r\nHost: x\r\n\r\n").status());
    }

    @Test
    void headHasTheHeadersOfGetAndNoBody() throws IOException {
        start(limits(64));
        Answer head = request(server.port(), "HEAD", "/metrics");
        assertEquals(200, head.status());
        assertEquals(TYPE, head.headers().get("content-type"));
        assertEquals(Integer.toString(BODY.length), head.headers().get("content-length"));
        assertEquals(0, head.body().length);
        Answer missing = request(server.port(), "HEAD", "/other");
        assertEquals(404, missing.status());
        assertEquals(0, missing.body().length);
    }

    @ParameterizedTest
    @ValueSource(strings = {"/", "/metrics/", "/metricsx", "/Metrics", "/other?x=/metrics", "http://127.0.0.1/"})
    void otherPathsAre404(String path) throws IOException {
        start(limits(64));
        for (String method : List.of("GET", "POST")) {
            Answer answer = request(server.port(), method, path);
            assertEquals(404, answer.status(), method + " " + path);
            assertEquals("close", answer.headers().get("connection"));
        }
        assertEquals(0, scrapes.get(), "no scrape made for them");
    }

    @ParameterizedTest
    @ValueSource(strings = {"PUT", "DELETE", "TRACE", "POST", "OPTIONS", "PATCH", "CONNECT", "get", "BREW"})
    void otherMethodsAre405WithAllow(String method) throws IOException {
        start(limits(64));
        Answer answer = request(server.port(), method, "/metrics");
        assertEquals(405, answer.status(), method);
        assertEquals("GET, HEAD", answer.headers().get("allow"));
        assertEquals(0, scrapes.get(), "no scrape made for " + method);
    }

    /**
     * The body of a refused POST is never read as a request, but it is read:
     * closing over unread bytes would reset the connection, and a reset can
     * destroy the answer before the client reads it.
     */
    @Test
    void aRefusedPostWithABodyStillGetsItsAnswer() throws IOException {
        start(limits(64));
        String body = "x".repeat(ScrapeLimits.LINGER_BYTES / 2);
        Answer answer = exchange(server.port(), "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: " + body.length()
                + "\r\n\r\n" + body);
        assertEquals(405, answer.status());
        await().atMost(AWAIT).until(() -> server.openConnections() == 0);
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "GET /metrics\r\n\r\n", // no version
        "GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n", // two spaces
        "GET /metrics HTTP/1.1 \r\nHost: x\r\n\r\n", // a trailing space
        "GET /metrics HTTP/1.1\nHost: x\r\n\r\n", // a bare LF
        "GET /metrics HTTP/1.1\r\nHost: x\rAccept: */*\r\n\r\n", // a bare CR
        "GET /metrics HTTP/1.1\r\n\r\n", // HTTP/1.1 without Host
        "GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", // two Hosts
        "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", // a space before the colon
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n text/plain\r\n\r\n", // a folded line
        "GET /metrics HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX: a\u0001b\r\n\r\n", // a control character
        "GET metrics HTTP/1.1\r\nHost: x\r\n\r\n", // neither origin nor absolute form
        "GET /met\u00e9rics HTTP/1.1\r\nHost: x\r\n\r\n", // a byte outside visible ASCII
        "GET /metrics#top HTTP/1.1\r\nHost: x\r\n\r\n", // a fragment
        "G(T /metrics HTTP/1.1\r\nHost: x\r\n\r\n", // a method that is not a token
        "GET /metrics HTTP/1.x\r\nHost: x\r\n\r\n",
        "GET /metrics http/1.1\r\nHost: x\r\n\r\n",
        "\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", // an empty line first
        "\r\n\r\n",
    })
    void malformedHeadsAre400AndClosed(String head) throws IOException {
        start(limits(64));
        Answer answer = exchange(server.port(), head);
        assertEquals(400, answer.status(), head);
        assertEquals("close", answer.headers().get("connection"));
        assertEquals(0, scrapes.get());
    }

    /**
     * A head whose lines end in bare LFs (what {@code printf 'GET ...\\n\\n' | nc}
     * sends) has no CR LF CR LF to end it: it waited out the head's deadline
     * (5 s in the daemon) and got 408, though a bare LF is refused at once
     * with 400 wherever the blank line comes in CR LFs. The same holds for a
     * bare CR.
     */
    @ParameterizedTest
    @ValueSource(strings = {"GET /metrics HTTP/1.1\nHost: x\n\n", "GET /metrics HTTP/1.1\rHost: x\r\r"})
    void aHeadOfBareLineEndsIs400AtOnceNotAtItsDeadline(String head) throws IOException {
        start(limits(64)); // a head deadline of a minute
        Answer answer = assertTimeoutPreemptively(AWAIT, () -> exchange(server.port(), head));
        assertEquals(400, answer.status(), head);
        assertEquals(0, scrapes.get());
    }

    @Test
    void anHttpVersionOtherThanOneIs505() throws IOException {
        start(limits(64));
        assertEquals(505, exchange(server.port(), "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n").status());
        // a later 1.x is 1.1 for this server
        assertEquals(200, exchange(server.port(), "GET /metrics HTTP/1.2\r\nHost: x\r\n\r\n").status());
    }

    @Test
    void anOversizeHeadIs431AndClosedWhileOneWithinTheBoundIsServed() throws IOException {
        start(new ScrapeLimits(64, 1024, LONG, LONG));
        String request = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
        // exactly 1024 bytes with the blank line ("X: " and two CR LFs are 7): served
        String filler = "X: " + "a".repeat(1024 - request.length() - 7) + "\r\n";
        assertEquals(1024, (request + filler + "\r\n").length());
        assertEquals(200, exchange(server.port(), request + filler + "\r\n").status());
        // one byte more, and a client that goes on sending: 431 all the same, then closed
        String over = "X: " + "a".repeat(1024 - request.length() - 6) + "\r\n";
        Answer answer = exchange(server.port(), request + over + "Y: " + "b".repeat(4000) + "\r\n");
        assertEquals(431, answer.status());
        await().atMost(AWAIT).until(() -> server.openConnections() == 0);
    }

    @Test
    void scrapesAnswerWhileTwentyFourConnectionsHoldHalfSentRequests() throws IOException {
        start(limits(64));
        for (int c = 0; c < 24; c++) {
            held(c % 2 == 0 ? HALF : "G"); // half a head, or one byte of one
        }
        await().atMost(AWAIT).until(() -> server.openConnections() == 24);
        for (int scrape = 0; scrape < 5; scrape++) {
            Answer answer = get();
            assertEquals(200, answer.status());
            assertArrayEquals(BODY, answer.body());
        }
        // the half-sent requests are still held, and waited for (the scrapes' connections close as their clients do)
        await().atMost(AWAIT).until(() -> server.openConnections() == 24);
        // and each of them is answered once its head is whole
        RawHttp.send(clients.get(0), "\r\n");
        assertEquals(200, RawHttp.read(clients.get(0)).status());
    }

    /**
     * One connection over the most closes the oldest: the one that has
     * waited longest for its head, not the one that just came with a scrape.
     */
    @Test
    void pastTheMostConnectionsTheOldestIsClosedAndScrapesStillAnswer() throws IOException {
        int most = 8;
        start(limits(most));
        for (int c = 0; c < 20; c++) {
            held(HALF);
            assertTrue(server.openConnections() <= most);
        }
        awaitClosedByPeer(clients.get(0));
        await().atMost(AWAIT).until(() -> server.openConnections() == most);
        assertEquals(200, get().status());
        assertTrue(server.openConnections() <= most);
        Socket newest = clients.get(clients.size() - 1);
        RawHttp.send(newest, "\r\n");
        assertEquals(200, RawHttp.read(newest).status(), "the newest held request was kept");
    }

    @Test
    void aHeadThatNeverCompletesIsClosedAtItsBoundWith408() throws IOException {
        start(new ScrapeLimits(64, 4096, Duration.ofMillis(200), LONG));
        Socket silent = held(HALF);
        await().atMost(AWAIT).until(() -> server.acceptedConnections() == 1);
        await().atMost(AWAIT).until(() -> server.openConnections() == 0);
        // the 408 goes out as far as the socket takes it at once, so it may be lost to a reset: if it came, it is a 408
        ByteArrayOutputStream said = new ByteArrayOutputStream();
        try {
            silent.getInputStream().transferTo(said);
        } catch (SocketException reset) {
            // closed all the same
        }
        assertTrue(said.size() == 0 || said.toString(StandardCharsets.ISO_8859_1).startsWith("HTTP/1.1 408 "),
                said.toString(StandardCharsets.ISO_8859_1));
        assertEquals(200, get().status(), "the endpoint serves on");
    }

    /** The head's deadline counts from the accept: bytes that keep coming slowly do not move it. */
    @Test
    void aHeadSentAByteAtATimeIsClosedAtTheSameBound() throws IOException {
        start(new ScrapeLimits(64, 1 << 20, Duration.ofMillis(300), LONG));
        Socket drip = held("GET /metrics HTTP/1.1\r\nX: ");
        await().atMost(AWAIT).until(() -> server.acceptedConnections() == 1);
        // one byte per poll, while the connection lasts; 1 MiB of head allowed, so only the time bound can end it
        await().atMost(AWAIT).pollInterval(Duration.ofMillis(20)).until(() -> {
            try {
                RawHttp.send(drip, "a");
            } catch (IOException closed) {
                // the endpoint closed it; the count below says so too
            }
            return server.openConnections() == 0;
        });
        awaitClosedByPeer(drip);
    }

    @Test
    void anAnswerNotTakenIsClosedAtItsBound() throws IOException {
        // an answer far beyond what the socket buffers hold, to a client that never reads
        start(new ScrapeLimits(64, 4096, LONG, Duration.ofMillis(300)),
                new ScrapeServer.Scrape(TYPE, new byte[16 << 20]));
        Socket reader = new Socket();
        clients.add(reader);
        reader.setReceiveBufferSize(4096);
        reader.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), server.port()));
        RawHttp.send(reader, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        await().atMost(AWAIT).until(() -> scrapes.get() == 1); // the answer has begun
        await().atMost(AWAIT).until(() -> server.openConnections() == 0);
        assertEquals(200, get().status(), "the endpoint serves on");
    }

    /**
     * The attack that grew the JDK server's descriptors from 15 to 771:
     * rounds of requests half sent and dropped, some with a reset. Every
     * connection and descriptor comes back. The descriptors are the whole
     * process's, so the baseline is taken after a round like the measured
     * ones (the first use of a class may open its jar), and a few above it
     * are allowed for the rest of the JVM: a leak shows as hundreds.
     */
    @Test
    void droppedHalfSentRequestsGiveBackEveryConnectionAndDescriptor() throws IOException {
        start(limits(64));
        dropRound(50);
        OptionalLong baseline = descriptors();
        for (int round = 0; round < 10; round++) {
            dropRound(50);
        }
        if (baseline.isPresent()) { // Linux: /proc/self/fd
            await().atMost(AWAIT).until(() -> descriptors().getAsLong() <= baseline.getAsLong() + 3);
        }
        assertEquals(200, get().status());
    }

    /**
     * {@code count} connections that send part of a head, are all held, and
     * go away, every other one with a reset; returns once the endpoint has
     * closed them all.
     */
    private void dropRound(int count) throws IOException {
        List<Socket> round = new ArrayList<>();
        for (int c = 0; c < count; c++) {
            round.add(halfSent(server.port(), c % 3 == 0 ? "G" : HALF));
        }
        await().atMost(AWAIT).until(() -> server.openConnections() == count);
        for (int c = 0; c < count; c++) {
            if (c % 2 == 0) {
                round.get(c).setSoLinger(true, 0); // close() resets the connection
            }
            round.get(c).close();
        }
        await().atMost(AWAIT).until(() -> server.openConnections() == 0);
    }

    @Test
    void closeStopsTheThreadAndClosesEveryDescriptor() throws IOException {
        OptionalLong before = descriptors();
        start(limits(64));
        assertEquals(200, get().status());
        for (int c = 0; c < 10; c++) {
            held(HALF);
        }
        await().atMost(AWAIT).until(() -> server.openConnections() == 10);
        int port = server.port();
        server.close();
        server.close(); // idempotent
        assertEquals(0, server.openConnections());
        assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().equals("adder-metrics")),
                "the endpoint's thread has ended");
        for (Socket client : clients) {
            awaitClosedByPeer(client);
        }
        assertThrows(ConnectException.class, () -> RawHttp.connect(port).close());
        for (Socket client : clients) {
            client.close();
        }
        clients.clear();
        if (before.isPresent()) {
            // the listener and the selector too; a few allowed for the rest of the JVM, as above
            await().atMost(AWAIT).until(() -> descriptors().getAsLong() <= before.getAsLong() + 3);
        }
    }

    @Test
    void aFailingScrapeIs500AndTheEndpointServesOn() throws IOException {
        AtomicInteger calls = new AtomicInteger();
        server = ScrapeServer.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), accept -> {
            if (calls.incrementAndGet() == 1) {
                throw new UncheckedIOException(new IOException("a callback failed"));
            }
            return new ScrapeServer.Scrape(TYPE, BODY);
        }, limits(64));
        assertEquals(500, get().status());
        assertEquals(200, get().status());
    }

    /** The process's open descriptors, where /proc/self/fd shows them (Linux). */
    private static OptionalLong descriptors() {
        Path fd = Path.of("/proc/self/fd");
        if (!Files.isDirectory(fd)) {
            return OptionalLong.empty();
        }
        try (Stream<Path> entries = Files.list(fd)) {
            return OptionalLong.of(entries.count());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
