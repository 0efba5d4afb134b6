package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import dev.adder.testing.TransportWithTls;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Hundreds of connections, each sending thousands of random requests cut at
 * random byte positions, all interleaved: every answer must be right.
 */
@Timeout(120)
class FuzzedFramingTest {

    private static final long SEED = 0xADDE12026L;
    private static final int CONNECTIONS = 300;
    /** Under TLS each piece is a record of its own, sealed and opened on both sides: fewer connections keep the run short. */
    private static final int TLS_CONNECTIONS = 75;
    private static final int REQUESTS_EACH = 2_000;
    private static final int WORKERS = 4;

    @TempDir
    Path dir;

    /** One connection's stream: its requests, how far they are written, how many answers were checked. */
    private static final class Stream {
        final int id;
        final SocketChannel channel;
        final SplittableRandom random;
        final long[] xs = new long[REQUESTS_EACH];
        final long[] ys = new long[REQUESTS_EACH];
        final ByteBuffer bytes = ByteBuffer.allocate(REQUESTS_EACH * Protocol.REQUEST_BYTES);
        final ByteBuffer answers = ByteBuffer.allocate(4096).order(Protocol.BYTE_ORDER);
        int checked;

        Stream(int id, SocketChannel channel, SplittableRandom random) {
            this.id = id;
            this.channel = channel;
            this.random = random;
            for (int i = 0; i < REQUESTS_EACH; i++) {
                // extremes often, so wrap-around is exercised at every split
                xs[i] = random.nextInt(8) == 0 ? Long.MAX_VALUE - random.nextInt(3) : random.nextLong();
                ys[i] = random.nextInt(8) == 0 ? Long.MIN_VALUE + random.nextInt(3) : random.nextLong();
                Protocol.encodeRequest(bytes, xs[i], ys[i]);
            }
            bytes.flip();
        }

        /** Writes the next piece: 1 to 40 bytes, or now and then a large run. */
        void writePiece() throws IOException {
            if (!bytes.hasRemaining()) {
                return;
            }
            int size = random.nextInt(20) == 0 ? 1 + random.nextInt(4096) : 1 + random.nextInt(40);
            ByteBuffer piece = bytes.duplicate();
            piece.limit(Math.min(bytes.limit(), bytes.position() + size));
            bytes.position(bytes.position() + channel.write(piece));
        }

        /** Reads what came; under TLS, until nothing more did: answers it unwrapped wait where no selector sees them. */
        void readAndCheck() throws IOException {
            int n = channel.read(answers);
            if (n < 0) {
                fail("seed " + SEED + ": connection " + id + " closed by the server after " + checked + " answers");
            }
            check();
            if (channel instanceof TlsSocketChannel && n > 0) {
                readAndCheck();
            }
        }

        private void check() {
            answers.flip();
            while (answers.remaining() >= Protocol.RESPONSE_BYTES) {
                long answer = Protocol.decodeResponse(answers);
                if (answer != xs[checked] + ys[checked]) {
                    fail("seed " + SEED + ": connection " + id + ", request " + checked + ": " + xs[checked] + " + "
                            + ys[checked] + " answered " + answer);
                }
                checked++;
            }
            answers.compact();
        }

        boolean done() {
            return checked == REQUESTS_EACH;
        }
    }

    private int drive(List<Stream> streams, SplittableRandom random) throws IOException {
        try (Selector selector = Selector.open()) {
            for (Stream stream : streams) {
                TlsSocketChannel.socket(stream.channel).register(selector, SelectionKey.OP_READ, stream);
            }
            int finished = 0;
            while (finished < streams.size()) {
                // write a piece on a few random streams, so that streams interleave at random
                for (int i = 0; i < 8; i++) {
                    streams.get(random.nextInt(streams.size())).writePiece();
                }
                selector.selectNow();
                for (SelectionKey key : selector.selectedKeys()) {
                    Stream stream = (Stream) key.attachment();
                    stream.readAndCheck();
                    if (stream.done()) {
                        key.cancel();
                        finished++;
                    }
                }
                selector.selectedKeys().clear();
            }
            return finished;
        }
    }

    @ParameterizedTest(name = "{0}, {1} loops")
    @CsvSource({"UNIX, 1", "TCP, 1", "TLS, 1", "UNIX, 4", "TCP, 4", "TLS, 4"})
    void randomlySplitInterleavedRequestsAreAllAnsweredRight(TransportWithTls transport, int loops) throws Exception {
        System.out.println("FuzzedFramingTest seed " + SEED);
        ExecutorService pool = Executors.newFixedThreadPool(WORKERS);
        List<SocketChannel> channels = new ArrayList<>();
        try (AdderServer server = transport.builder(dir).loops(loops).build()) {
            server.start();
            AdderAddress address = server.addresses().get(0);
            SplittableRandom seeds = new SplittableRandom(SEED);
            List<List<Stream>> shares = new ArrayList<>();
            for (int w = 0; w < WORKERS; w++) {
                shares.add(new ArrayList<>());
            }
            int connections = transport == TransportWithTls.TLS ? TLS_CONNECTIONS : CONNECTIONS;
            for (int c = 0; c < connections; c++) {
                SocketChannel channel = RawClient.connect(address).channel; // under TLS, each piece is a record
                channels.add(channel);
                channel.configureBlocking(false);
                shares.get(c % WORKERS).add(new Stream(c, channel, seeds.split()));
            }
            List<Future<Integer>> done = new ArrayList<>();
            for (List<Stream> share : shares) {
                SplittableRandom random = seeds.split();
                done.add(pool.submit(() -> drive(share, random)));
            }
            int finished = 0;
            for (Future<Integer> f : done) {
                finished += f.get();
            }
            assertEquals(connections, finished);
            assertEquals((long) connections * REQUESTS_EACH, server.stats().requests());
        } finally {
            pool.shutdownNow();
            for (SocketChannel channel : channels) {
                channel.close();
            }
        }
    }
}
