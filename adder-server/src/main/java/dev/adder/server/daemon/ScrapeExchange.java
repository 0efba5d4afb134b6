package dev.adder.server.daemon;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection of the metrics endpoint, and its one request: the head is
 * read as its bytes come, answered once it is whole, and then what the client
 * still sends is read and dropped until it closes. {@link ScrapeServer} owns
 * the connections, their deadlines and the room they take; this class moves
 * one of them on, on the endpoint's thread only.
 *
 * <ul>
 * <li>The head: at most {@code maxHeadBytes} (beyond, 431), parsed strictly
 *     ({@link RequestHead}), and whole within {@code headTimeout} of the
 *     accept (else 408). The deadline is not moved by progress: a head sent a
 *     byte at a time gets no more time than one that never comes.</li>
 * <li>The answer: taken within {@code answerTimeout} of its start. It is
 *     written without blocking; then the output is shut (the client sees the
 *     end) and what the client still sends is dropped, at most
 *     {@value ScrapeLimits#LINGER_BYTES} bytes, until it closes: closing a socket with
 *     unread bytes would reset the connection and could destroy the answer
 *     before the client read it (a body sent with a refused POST, say).</li>
 * </ul>
 */
final class ScrapeExchange {

    /** The endpoint has one log, whichever of its classes writes a line. */
    private static final Logger log = LoggerFactory.getLogger(ScrapeServer.class);

    private enum State {
        /** Reading the request head, until its deadline. */
        HEAD,
        /** Writing the answer; the client's bytes wait in the kernel meanwhile. */
        ANSWERING,
        /** Answered and output shut: reading and dropping what the client sends until it closes. */
        LINGERING
    }

    private final SocketChannel channel;
    private final SelectionKey key;
    /** The turn it was accepted in: one accepted in the current turn is never closed for room. */
    final long turn;
    private final ScrapeLimits limits;
    private final ScrapeServer.Scraper scraper;
    private ByteBuffer input;
    /** How much of {@link #input} is known to hold no blank line; the search resumes just before it. */
    private int searched;
    private ByteBuffer answer;
    private State state = State.HEAD;
    /** When the head must be whole, then when the answer must be taken: {@link System#nanoTime()}. */
    private long deadline;
    private int dropped;

    ScrapeExchange(SocketChannel channel, SelectionKey key, long turn, long now, ScrapeLimits limits,
            ScrapeServer.Scraper scraper) {
        this.channel = channel;
        this.key = key;
        this.turn = turn;
        this.limits = limits;
        this.scraper = scraper;
        this.input = ByteBuffer.allocate(limits.maxHeadBytes());
        this.deadline = now + limits.headTimeout().toNanos();
    }

    long deadline() {
        return deadline;
    }

    /**
     * Does what the channel is ready for: reads the head, writes the answer
     * or drops what comes after it.
     *
     * @return false once the exchange is over (the client went or sent too
     *     much after its answer): the caller closes it
     * @throws IOException if the connection failed: the caller closes it
     */
    boolean onReady(long now, ByteBuffer drain) throws IOException {
        return switch (state) {
            case HEAD -> readHead(now);
            case ANSWERING -> writeAnswer();
            case LINGERING -> drop(drain);
        };
    }

    private boolean readHead(long now) throws IOException {
        if (channel.read(input) < 0) {
            return false; // gone before its request was whole: nothing to answer
        }
        byte[] bytes = input.array();
        int end = -1;
        boolean bare = false;
        // a CR is judged by the byte after it, so the search resumes at the last byte if it was a CR
        for (int i = searched; i < input.position(); i++) {
            if (bytes[i] == '\r') {
                if (i + 1 < input.position() && bytes[i + 1] != '\n') {
                    bare = true;
                    break;
                }
            } else if (bytes[i] == '\n') {
                if (i == 0 || bytes[i - 1] != '\r') {
                    bare = true; // a head of bare line ends has no CR LF CR LF: it would wait for its deadline
                    break;
                }
                if (i >= 3 && bytes[i - 2] == '\n' && bytes[i - 3] == '\r') {
                    end = i + 1;
                    break;
                }
            }
        }
        if (bare) {
            return answer(now, HttpAnswer.plain(400, "Bad Request", "a line ended by a bare CR or LF", "", true));
        }
        if (end < 0) {
            int position = input.position();
            searched = position > 0 && bytes[position - 1] == '\r' ? position - 1 : position;
            if (!input.hasRemaining()) {
                return answer(now, HttpAnswer.plain(431, "Request Header Fields Too Large",
                        "the request head is over " + limits.maxHeadBytes() + " bytes", "", true));
            }
            return true;
        }
        RequestHead request;
        try {
            request = RequestHead.parse(bytes, end);
        } catch (RequestHead.Malformed e) {
            log.debug("metrics: refusing a request ({}): {}", e.status, e.getMessage());
            return answer(now, HttpAnswer.plain(e.status, e.status == 505 ? "HTTP Version Not Supported"
                    : "Bad Request", e.getMessage(), "", true));
        }
        return answer(now, HttpAnswer.to(request, scraper));
    }

    private boolean answer(long now, ByteBuffer answer) throws IOException {
        input = null; // the head is done with: a lingering connection holds no buffer
        this.answer = answer;
        state = State.ANSWERING;
        deadline = now + limits.answerTimeout().toNanos();
        return writeAnswer();
    }

    private boolean writeAnswer() throws IOException {
        channel.write(answer);
        if (answer.hasRemaining()) {
            key.interestOps(SelectionKey.OP_WRITE);
            return true;
        }
        answer = null;
        channel.shutdownOutput();
        state = State.LINGERING;
        key.interestOps(SelectionKey.OP_READ);
        return true;
    }

    private boolean drop(ByteBuffer drain) throws IOException {
        while (true) {
            drain.clear();
            int read = channel.read(drain);
            if (read == 0) {
                return true;
            }
            if (read < 0) {
                return false; // the client has the answer and has closed: the exchange is over
            }
            dropped += read;
            if (dropped > ScrapeLimits.LINGER_BYTES) {
                return false;
            }
        }
    }

    /**
     * Ends the exchange at its deadline: an unfinished head gets 408, as far
     * as the socket takes it at once; an answer not taken is cut off.
     */
    void expire() {
        if (state == State.HEAD) {
            log.debug("metrics: a request head unfinished after {}, closing", limits.headTimeout());
            try {
                channel.write(HttpAnswer.plain(408, "Request Timeout",
                        "the request head did not arrive within " + limits.headTimeout(), "", true));
            } catch (IOException e) {
                log.debug("metrics: cannot say 408 ({})", e.toString());
            }
        } else {
            log.debug("metrics: an answer not taken within {}, closing", limits.answerTimeout());
        }
        close();
    }

    /**
     * Closes the channel, which cancels its key; the selector gives the
     * descriptor back at its next select, which the loop makes at once.
     */
    void close() {
        closeQuietly(channel);
    }

    static void closeQuietly(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            log.debug("metrics: closing a connection failed ({})", e.toString());
        }
    }
}
