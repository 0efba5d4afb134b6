package dev.adder.server.daemon;

import static dev.adder.server.daemon.RawHttp.exchange;
import static dev.adder.server.daemon.RawHttp.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.server.AdderServer;
import dev.adder.server.daemon.RawHttp.Answer;
import java.io.IOException;
import java.net.ConnectException;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What the endpoint serves, over its own HTTP side: every metric the daemon
 * has served since it had /metrics, with the same names, help and units, in
 * the format the scraper asks for.
 */
@Timeout(60)
class MetricsEndpointTest {

    /** Each adder metric's sample name and help, as the endpoint served them with the JDK's server. */
    private static final Map<String, String> HELP = Map.ofEntries(
            Map.entry("adder_connections_accepted_total", "Connections accepted and served"),
            Map.entry("adder_connections_refused_total", "Connections closed at once: the most were open, or the peer was not allowed"),
            Map.entry("adder_requests_total", "Requests answered"),
            Map.entry("adder_read_bytes_total", "Bytes read from clients"),
            Map.entry("adder_written_bytes_total", "Bytes written to clients"),
            Map.entry("adder_loop_busy_seconds_total",
                    "Time the event loop spent working rather than waiting; its rate is the share of a core it uses"),
            Map.entry("adder_connections_open", "Connections open now"),
            Map.entry("adder_pending_output_bytes", "Answers waiting now for clients that read slowly"),
            Map.entry("adder_loop_busy_ratio", "Share of the last full 10 seconds the event loop spent working"),
            Map.entry("adder_loop_longest_turn_seconds",
                    "Longest the event loop worked between two waits over the last 10 to 20 seconds"),
            Map.entry("adder_loop_running", "1 while the event loop serves, 0 once it has stopped or failed"));

    /** What Prometheus 2.x sends by default. */
    private static final String PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0,"
            + "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    private AdderServer server;
    private MetricsEndpoint endpoint;

    @BeforeEach
    void start() throws IOException {
        server = AdderServer.builder().listen(AdderAddress.tcp("127.0.0.1", 0)).registerMBean(false).build();
        server.start();
        endpoint = MetricsEndpoint.start(AdderAddress.tcp("127.0.0.1", 0), server);
    }

    @AfterEach
    void stop() {
        endpoint.close();
        server.close();
    }

    @Test
    void servesEveryMetricInTheTextFormatWithoutAnAcceptHeader() throws IOException {
        Answer answer = request(endpoint.port(), "GET", "/metrics");
        assertEquals(200, answer.status());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", answer.headers().get("content-type"));
        String text = "\n" + answer.text(); // every line, the first too, after a newline
        HELP.forEach((name, help) -> assertTrue(text.contains("\n# HELP " + name + " " + help + "\n"), name + " in\n" + text));
        assertTrue(text.contains("\n# TYPE adder_requests_total counter\n"), text);
        assertTrue(text.contains("\nadder_loop_running 1.0\n"), text);
        assertTrue(text.contains("\njvm_memory_used_bytes{"), "the JVM's metrics too");
        assertTrue(text.contains("\nprocess_open_fds "), "and the process's");
    }

    @Test
    void servesOpenMetricsWithItsUnitsToAScraperThatAsksForIt() throws IOException {
        Answer answer = exchange(endpoint.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: " + PROMETHEUS_ACCEPT
                + "\r\n\r\n");
        assertEquals(200, answer.status());
        assertEquals("application/openmetrics-text; version=1.0.0; charset=utf-8", answer.headers().get("content-type"));
        String text = "\n" + answer.text(); // every line, the first too, after a newline
        assertTrue(text.contains("\n# UNIT adder_read_bytes bytes\n"), text);
        assertTrue(text.contains("\n# UNIT adder_loop_busy_seconds seconds\n"), text);
        assertTrue(text.contains("\nadder_requests_total 0.0\n"), text);
        assertTrue(text.endsWith("# EOF\n"), text);
    }

    @Test
    void headAnswersTheLengthOfTheScrapeWithoutIt() throws IOException {
        Answer head = request(endpoint.port(), "HEAD", "/metrics");
        assertEquals(200, head.status());
        assertTrue(Integer.parseInt(head.headers().get("content-length")) > 1000, head.headers().toString());
        assertEquals(0, head.body().length);
        assertEquals(405, request(endpoint.port(), "PUT", "/metrics").status());
        assertEquals(404, request(endpoint.port(), "GET", "/").status());
    }

    @Test
    void closeStopsServing() throws IOException {
        int port = endpoint.port();
        endpoint.close();
        assertEquals(0, endpoint.openConnections());
        assertThrows(ConnectException.class, () -> RawHttp.connect(port).close());
    }
}
