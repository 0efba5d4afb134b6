package dev.adder.server;

import dev.adder.core.Protocol;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.util.ArrayDeque;

/** The client's side, in memory: bytes to be read, bytes taken (up to an allowance), and the interest asked for. */
final class MemoryChannel implements ConnectionChannel {
    final ArrayDeque<byte[]> input = new ArrayDeque<>();
    boolean endOfInput;
    final ByteArrayOutputStream taken = new ByteArrayOutputStream();
    long allowance = Long.MAX_VALUE;
    IOException writeFailure;
    int interest = SelectionKey.OP_READ;
    boolean outputShut;
    boolean closed;
    /** Times the connection asked for an immediate acknowledgement (TCP_QUICKACK). */
    int acknowledgements;

    void feed(byte[] bytes) {
        input.add(bytes);
    }

    @Override
    public int read(ByteBuffer into) {
        if (input.isEmpty()) {
            return endOfInput ? -1 : 0;
        }
        byte[] next = input.peek();
        int n = Math.min(next.length, into.remaining());
        into.put(next, 0, n);
        input.poll();
        if (n < next.length) {
            byte[] rest = new byte[next.length - n];
            System.arraycopy(next, n, rest, 0, rest.length);
            input.addFirst(rest);
        }
        return n;
    }

    @Override
    public long write(ByteBuffer[] from, int offset, int length) throws IOException {
        if (writeFailure != null) {
            throw writeFailure;
        }
        long written = 0;
        for (int i = offset; i < offset + length && allowance > 0; i++) {
            int n = (int) Math.min(from[i].remaining(), allowance);
            byte[] bytes = new byte[n];
            from[i].get(bytes);
            taken.write(bytes, 0, n);
            allowance -= n;
            written += n;
        }
        return written;
    }

    @Override
    public long write(ByteBuffer[] from) throws IOException {
        return write(from, 0, from.length);
    }

    @Override
    public int write(ByteBuffer from) throws IOException {
        return (int) write(new ByteBuffer[] {from}, 0, 1);
    }

    @Override
    public void shutdownOutput() {
        outputShut = true;
    }

    @Override
    public boolean isOpen() {
        return !closed;
    }

    @Override
    public void close() {
        closed = true;
    }

    @Override
    public void interest(int ops) {
        interest = ops;
    }

    @Override
    public void acknowledgeAtOnce() {
        acknowledgements++;
    }

    /** Answers taken so far, decoded. */
    long[] answers() {
        ByteBuffer bytes = ByteBuffer.wrap(taken.toByteArray()).order(Protocol.BYTE_ORDER);
        long[] answers = new long[bytes.remaining() / Protocol.RESPONSE_BYTES];
        for (int i = 0; i < answers.length; i++) {
            answers[i] = bytes.getLong();
        }
        return answers;
    }
}
