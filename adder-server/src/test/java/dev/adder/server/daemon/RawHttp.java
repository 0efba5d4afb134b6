package dev.adder.server.daemon;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * HTTP at the byte level over a plain socket, for tests of the metrics
 * endpoint: requests no well-behaved client library would send (half sent,
 * malformed, oversize, with any method), and answers read to the end of the
 * stream, which shows the endpoint closed the connection. Public: the daemon's
 * process-level test uses it too.
 */
public final class RawHttp {

    /** Bounds a read that the endpoint should end, so that a bug fails a test rather than hanging it. */
    private static final int READ_TIMEOUT_MILLIS = 30_000;

    private RawHttp() {
    }

    /**
     * An answer: its status, its headers (names in lower case, the last of a
     * name kept), and its body, all that followed the head until the end of
     * the stream.
     */
    public record Answer(int status, Map<String, String> headers, byte[] body) {

        public String text() {
            return new String(body, StandardCharsets.UTF_8);
        }

        static Answer parse(byte[] bytes) {
            String all = new String(bytes, StandardCharsets.ISO_8859_1);
            int end = all.indexOf("\r\n\r\n");
            if (!all.startsWith("HTTP/1.1 ") || end < 0) {
                throw new AssertionError("not an HTTP/1.1 answer: " + all);
            }
            String[] lines = all.substring(0, end).split("\r\n");
            Map<String, String> headers = new LinkedHashMap<>();
            for (int i = 1; i < lines.length; i++) {
                int colon = lines[i].indexOf(':');
                headers.put(lines[i].substring(0, colon).toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).strip());
            }
            return new Answer(Integer.parseInt(lines[0].substring(9, 12)), headers,
                    Arrays.copyOfRange(bytes, end + 4, bytes.length));
        }
    }

    /** A connection to the endpoint on 127.0.0.1 at {@code port}. */
    public static Socket connect(int port) throws IOException {
        Socket socket = new Socket(InetAddress.getLoopbackAddress(), port);
        socket.setSoTimeout(READ_TIMEOUT_MILLIS);
        return socket;
    }

    /** A connection with {@code bytes} of a request sent and the rest never: held until closed. */
    public static Socket halfSent(int port, String bytes) throws IOException {
        Socket socket = connect(port);
        send(socket, bytes);
        return socket;
    }

    public static void send(Socket socket, String bytes) throws IOException {
        socket.getOutputStream().write(bytes.getBytes(StandardCharsets.ISO_8859_1));
        socket.getOutputStream().flush();
    }

    /** Sends {@code request} as it is, and reads the answer to the end of the stream. */
    public static Answer exchange(int port, String request) throws IOException {
        try (Socket socket = connect(port)) {
            send(socket, request);
            return read(socket);
        }
    }

    /** {@code METHOD PATH HTTP/1.1}, with a Host and nothing else. */
    public static Answer request(int port, String method, String path) throws IOException {
        return exchange(port, method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n\r\n");
    }

    /** Reads an answer to the end of the stream. */
    public static Answer read(Socket socket) throws IOException {
        return Answer.parse(socket.getInputStream().readAllBytes());
    }

    /**
     * Returns once the endpoint has closed {@code socket}: a read ends the
     * stream (after whatever the endpoint said) or finds the connection reset.
     * A {@link java.net.SocketTimeoutException} (not a SocketException) if
     * neither comes within the read timeout.
     */
    public static void awaitClosedByPeer(Socket socket) throws IOException {
        InputStream in = socket.getInputStream();
        try {
            while (in.read() >= 0) {
                // what it said before closing (a 408, say) is not the question here
            }
        } catch (SocketException reset) {
            // closed with our bytes unread: a reset is a close too
        }
    }
}
