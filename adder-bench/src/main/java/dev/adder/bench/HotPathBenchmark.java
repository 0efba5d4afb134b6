package dev.adder.bench;

import dev.adder.core.Protocol;
import dev.adder.core.RequestDecoder;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The server's hot path: decoding a 64 KiB read of requests and answering
 * each into the output buffer, as the event loop does. One operation is one
 * request, so {@code -prof gc}'s {@code gc.alloc.rate.norm} is bytes per request.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class HotPathBenchmark {

    private static final int REQUESTS = 64 * 1024 / Protocol.REQUEST_BYTES;

    private final ByteBuffer in = ByteBuffer.allocateDirect(64 * 1024).order(Protocol.BYTE_ORDER);
    /** The same requests, starting 9 bytes into the buffer: where they sit after a cut mid-request. */
    private final ByteBuffer shifted = ByteBuffer.allocateDirect(64 * 1024 + 9).order(Protocol.BYTE_ORDER);
    private final ByteBuffer out = ByteBuffer.allocateDirect(REQUESTS * Protocol.RESPONSE_BYTES).order(Protocol.BYTE_ORDER);
    private final RequestDecoder decoder = new RequestDecoder();
    private final RequestDecoder.Sink answer = (x, y) -> out.putLong(Protocol.answer(x, y));

    /** 4096 requests with varied operands. */
    @Setup
    public void fill() {
        for (int i = 0; i < REQUESTS; i++) {
            Protocol.encodeRequest(in, i * 0x9E3779B97F4A7C15L, -i);
        }
        shifted.position(9);
        shifted.put(in.flip());
    }

    /** Decodes and answers one 64 KiB batch. */
    @Benchmark
    @OperationsPerInvocation(REQUESTS)
    public int decodeAndAnswer64KiB() {
        in.clear();
        out.clear();
        decoder.decode(in, answer);
        return out.position();
    }

    /** The same batch, 9 bytes into the read buffer. */
    @Benchmark
    @OperationsPerInvocation(REQUESTS)
    public int decodeAndAnswerUnaligned() {
        shifted.limit(shifted.capacity()).position(9);
        out.clear();
        decoder.decode(shifted, answer);
        return out.position();
    }

    /** The same batch arriving in two reads cut between two requests. */
    @Benchmark
    @OperationsPerInvocation(REQUESTS)
    public int decodeAndAnswerSplitOnBoundary() {
        out.clear();
        in.limit(32 * 1024).position(0);
        decoder.decode(in, answer);
        in.limit(in.capacity());
        decoder.decode(in, answer);
        return out.position();
    }

    /** The same batch arriving in two reads cut mid-request, as the transport may deliver it. */
    @Benchmark
    @OperationsPerInvocation(REQUESTS)
    public int decodeAndAnswerSplitMidRequest() {
        out.clear();
        in.limit(32 * 1024 + 7).position(0);
        decoder.decode(in, answer);
        in.limit(in.capacity());
        decoder.decode(in, answer);
        return out.position();
    }
}
