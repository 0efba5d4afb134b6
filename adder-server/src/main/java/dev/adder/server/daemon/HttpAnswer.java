package dev.adder.server.daemon;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the metrics endpoint answers, as the bytes it writes: {@code GET} and
 * {@code HEAD} of {@value #PATH} (a query is allowed and ignored) get the
 * {@link ScrapeServer.Scraper}'s scrape, made for each request (HEAD with the
 * same headers and no body); another method there 405 with
 * {@code Allow: GET, HEAD}; another path 404; a failed scrape 500. Refusals of
 * the head itself (400, 408, 431, 505) are {@link #plain} answers too. Every
 * answer is one request's: {@code Connection: close}.
 */
final class HttpAnswer {

    /** The endpoint has one log, whichever of its classes writes a line. */
    private static final Logger log = LoggerFactory.getLogger(ScrapeServer.class);

    /** The one resource served. */
    static final String PATH = "/metrics";
    /** RFC 9110's IMF-fixdate, for the Date header every answer carries. */
    private static final DateTimeFormatter HTTP_DATE =
            DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.ENGLISH);
    private static final String TEXT = "text/plain; charset=utf-8";

    private HttpAnswer() {
    }

    /** The answer to a well-formed request head, with a scrape made now if it asks for {@value #PATH}. */
    static ByteBuffer to(RequestHead request, ScrapeServer.Scraper scraper) {
        boolean body = !request.method().equals("HEAD");
        if (!request.path().equals(PATH)) {
            return plain(404, "Not Found", "only " + PATH + " is served here", "", body);
        }
        if (!request.method().equals("GET") && !request.method().equals("HEAD")) {
            return plain(405, "Method Not Allowed", PATH + " answers GET and HEAD", "Allow: GET, HEAD\r\n", true);
        }
        ScrapeServer.Scrape scrape;
        try {
            scrape = scraper.scrape(request.accept());
        } catch (IOException | RuntimeException | LinkageError e) {
            log.warn("metrics: a scrape failed; answering 500", e);
            return plain(500, "Internal Server Error", "the scrape failed (the daemon's log says why)", "", body);
        }
        return compose(200, "OK", scrape.contentType(), scrape.body(), "", body);
    }

    /**
     * A short text answer: the status and why, in the body too for someone
     * reading it with curl.
     *
     * @param headers header lines to add, each ending with CR LF, or ""
     * @param body whether to send the body (not for HEAD); its length is sent either way
     */
    static ByteBuffer plain(int status, String reason, String why, String headers, boolean body) {
        byte[] text = (status + " " + reason + ": " + why + "\n").getBytes(StandardCharsets.UTF_8);
        return compose(status, reason, TEXT, text, headers, body);
    }

    /**
     * The answer's bytes, head and body in one buffer, written by one call.
     * {@code Content-Length} is the body's, also without it (HEAD).
     */
    private static ByteBuffer compose(int status, String reason, String contentType, byte[] body, String headers,
            boolean withBody) {
        byte[] head = ("HTTP/1.1 " + status + " " + reason + "\r\n"
                + "Date: " + HTTP_DATE.format(ZonedDateTime.now(ZoneOffset.UTC)) + "\r\n"
                + "Content-Type: " + contentType + "\r\n"
                + "Content-Length: " + body.length + "\r\n"
                + headers
                + "Connection: close\r\n"
                + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer answer = ByteBuffer.allocate(head.length + (withBody ? body.length : 0)).put(head);
        if (withBody) {
            answer.put(body);
        }
        return answer.flip();
    }
}
