package dev.adder.server.daemon;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The head of an HTTP/1.x request to the metrics endpoint, parsed strictly
 * (RFC 9112): only what the endpoint answers from is kept, and anything a
 * lenient parser would have to guess at is refused with 400, not guessed.
 * The endpoint answers one request per connection and never reads a body, so
 * nothing here decides where a next request starts: that is where leniency
 * is dangerous, and the endpoint has no such place.
 *
 * <p>Refused (400): a line ended by a bare CR or LF; a request line that is
 * not exactly {@code METHOD SP TARGET SP HTTP/d.d}; a method that is not a
 * token; a target with a byte outside visible ASCII, with a fragment, or not
 * in origin form ({@code /path?query}) or absolute form
 * ({@code http://host/path}); a header line folded onto the previous one, or
 * with no colon, a name that is not a token (so no space before the colon),
 * or a control character in its value; an HTTP/1.1 request without exactly
 * one {@code Host}. An HTTP version other than 1.x is answered 505.
 *
 * @param method the method, case-sensitive as HTTP has it ({@code get} is not {@code GET})
 * @param path the target's path, without its query: {@code /metrics} for {@code /metrics?x=1}
 * @param accept the {@code Accept} header's value (several joined by ", "), or null without one
 */
record RequestHead(String method, String path, String accept) {

    /** Why a head was refused, and the status that says so. Without a stack trace: it is an answer, not a bug. */
    static final class Malformed extends Exception {
        private static final long serialVersionUID = 1L;

        final int status;

        Malformed(int status, String reason) {
            super(reason, null, false, false);
            this.status = status;
        }
    }

    /**
     * Parses the head in {@code bytes[0, length)}, which ends with the blank
     * line (CR LF CR LF) that ended it.
     *
     * @throws Malformed if the head is refused: the status to answer and why
     */
    static RequestHead parse(byte[] bytes, int length) throws Malformed {
        // ISO-8859-1 maps each byte to one char, so nothing is lost or merged before the checks below
        String head = new String(bytes, 0, length - 4, StandardCharsets.ISO_8859_1);
        List<String> lines = new ArrayList<>();
        for (int start = 0;;) {
            int end = head.indexOf("\r\n", start);
            String line = head.substring(start, end < 0 ? head.length() : end);
            if (line.indexOf('\r') >= 0 || line.indexOf('\n') >= 0) {
                throw bad("a line ended by a bare CR or LF");
            }
            lines.add(line);
            if (end < 0) {
                break;
            }
            start = end + 2;
        }
        String requestLine = lines.get(0);
        int firstSpace = requestLine.indexOf(' ');
        int secondSpace = requestLine.indexOf(' ', firstSpace + 1);
        if (firstSpace <= 0 || secondSpace < 0 || requestLine.indexOf(' ', secondSpace + 1) >= 0) {
            throw bad("a request line not of three parts separated by single spaces");
        }
        String method = requestLine.substring(0, firstSpace);
        String target = requestLine.substring(firstSpace + 1, secondSpace);
        String version = requestLine.substring(secondSpace + 1);
        if (!isToken(method)) {
            throw bad("a method that is not a token");
        }
        if (version.length() != 8 || !version.startsWith("HTTP/") || !isDigit(version.charAt(5))
                || version.charAt(6) != '.' || !isDigit(version.charAt(7))) {
            throw bad("a malformed HTTP version");
        }
        if (version.charAt(5) != '1') {
            throw new Malformed(505, "HTTP version " + version);
        }
        boolean hostRequired = version.charAt(7) != '0'; // HTTP/1.1 and any later 1.x
        String path = path(target);
        int hosts = 0;
        String accept = null;
        for (String line : lines.subList(1, lines.size())) {
            if (line.startsWith(" ") || line.startsWith("\t")) {
                throw bad("a folded header line");
            }
            int colon = line.indexOf(':');
            if (colon <= 0 || !isToken(line.substring(0, colon))) {
                throw bad("a header line without a token and a colon");
            }
            String name = line.substring(0, colon).toLowerCase(Locale.ROOT);
            String value = line.substring(colon + 1).strip(); // strips SP and HTAB, the optional whitespace
            for (int i = 0; i < value.length(); i++) {
                char c = value.charAt(i);
                if ((c < 0x20 && c != '\t') || c == 0x7f) {
                    throw bad("a control character in a header value");
                }
            }
            if (name.equals("host")) {
                hosts++;
            } else if (name.equals("accept")) {
                accept = accept == null ? value : accept + ", " + value;
            }
        }
        if (hosts > 1 || (hostRequired && hosts == 0)) {
            throw bad(hosts + " Host headers");
        }
        return new RequestHead(method, path, accept);
    }

    /** The path of an origin-form or absolute-form target, without its query. */
    private static String path(String target) throws Malformed {
        for (int i = 0; i < target.length(); i++) {
            char c = target.charAt(i);
            if (c <= 0x20 || c >= 0x7f || c == '#') {
                throw bad("a target with a fragment or a byte outside visible ASCII");
            }
        }
        String path;
        if (target.startsWith("/")) {
            path = target;
        } else {
            // the absolute form, which a server must accept (RFC 9112, 3.2.2), though clients send it to proxies
            int authority = target.regionMatches(true, 0, "http://", 0, 7) ? 7
                    : target.regionMatches(true, 0, "https://", 0, 8) ? 8 : -1;
            if (authority < 0) {
                throw bad("a target in neither origin nor absolute form");
            }
            int end = authority;
            while (end < target.length() && target.charAt(end) != '/' && target.charAt(end) != '?') {
                end++;
            }
            if (end == authority) {
                throw bad("an absolute target without a host");
            }
            path = end == target.length() || target.charAt(end) == '?' ? "/" + target.substring(end) : target.substring(end);
        }
        int query = path.indexOf('?');
        return query < 0 ? path : path.substring(0, query);
    }

    /** RFC 9110's token: one or more tchar. */
    private static boolean isToken(String s) {
        if (s.isEmpty()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || "!#$%&'*+-.^_`|~".indexOf(c) >= 0)) {
                return false;
            }
        }
        return true;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private static Malformed bad(String reason) {
        return new Malformed(400, reason);
    }
}
