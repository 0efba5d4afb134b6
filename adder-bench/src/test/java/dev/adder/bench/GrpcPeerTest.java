package dev.adder.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import dev.adder.testing.Transport;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The gRPC peer answers as Adder does, over both transports, and its client is the bench's. */
class GrpcPeerTest {

    /** PROTOCOL.md's test vectors: x, y, the request's bytes, the answer's bytes, the sum. */
    private static final Object[][] VECTORS = {
        {7L, 10L, "07000000000000000a00000000000000", "1100000000000000", 17L},
        {0L, 0L, "00000000000000000000000000000000", "0000000000000000", 0L},
        {-1L, 1L, "ffffffffffffffff0100000000000000", "0000000000000000", 0L},
        {-5L, -7L, "fbfffffffffffffff9ffffffffffffff", "f4ffffffffffffff", -12L},
        {Long.MAX_VALUE, 1L, "ffffffffffffff7f0100000000000000", "0000000000000080", Long.MIN_VALUE},
        {Long.MIN_VALUE, -1L, "0000000000000080ffffffffffffffff", "ffffffffffffff7f", Long.MAX_VALUE},
        {Long.MAX_VALUE, Long.MAX_VALUE, "ffffffffffffff7fffffffffffffff7f", "feffffffffffffff", -2L},
        {123456789012345L, -98765432109876L, "79df0d8648700000ccc480612ca6ffff", "45a48ee774160000", 24691356902469L},
        {72623859790382856L, 0L, "08070605040302010000000000000000", "0807060504030201", 72623859790382856L},
    };

    @TempDir
    Path directory;

    private GrpcPeer.Running start(Transport transport) throws IOException {
        return GrpcPeer.start(List.of(transport.listenAddress(directory)), false);
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void answersSevenPlusTenAndWrapsOnOverflowAsAdderDoes(Transport transport) throws Exception {
        try (GrpcPeer.Running peer = start(transport)) {
            GrpcPeer.Client client = new GrpcPeer.Client(peer.addresses().get(0));
            try {
                assertEquals(17, client.add(7, 10));
                assertEquals(Long.MIN_VALUE, client.add(Long.MAX_VALUE, 1), "wraps, as Java's long addition");
                assertEquals(Long.MAX_VALUE, client.add(Long.MIN_VALUE, -1));
                for (Object[] vector : VECTORS) {
                    assertEquals((long) vector[4], client.add((long) vector[0], (long) vector[1]));
                }
            } finally {
                client.close();
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Transport.class)
    void answersAThousandAsynchronousCallsInFlightEachItsOwnSum(Transport transport) throws Exception {
        try (GrpcPeer.Running peer = start(transport)) {
            GrpcPeer.Client client = new GrpcPeer.Client(peer.addresses().get(0));
            try {
                List<CompletableFuture<Long>> sums = new ArrayList<>();
                for (long i = 0; i < 1000; i++) {
                    sums.add(client.addAsync(i, Long.MAX_VALUE - 500));
                }
                for (int i = 0; i < 1000; i++) {
                    assertEquals(i + (Long.MAX_VALUE - 500), sums.get(i).get(30, TimeUnit.SECONDS));
                }
            } finally {
                client.close();
            }
        }
    }

    @Test
    void theMessagesAreAdderFramesByteForByte() throws IOException {
        HexFormat hex = HexFormat.of();
        for (Object[] vector : VECTORS) {
            GrpcPeer.Pair pair = new GrpcPeer.Pair((long) vector[0], (long) vector[1]);
            assertEquals(vector[2], hex.formatHex(GrpcPeer.PAIR.stream(pair).readAllBytes()));
            assertEquals(pair, GrpcPeer.PAIR.parse(new ByteArrayInputStream(hex.parseHex((String) vector[2]))));
            assertEquals(vector[3], hex.formatHex(GrpcPeer.SUM.stream((long) vector[4]).readAllBytes()));
            assertEquals(vector[4], GrpcPeer.SUM.parse(new ByteArrayInputStream(hex.parseHex((String) vector[3]))));
        }
        for (int size : new int[] {0, 15, 17}) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> GrpcPeer.PAIR.parse(new ByteArrayInputStream(new byte[size])));
            assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
        }
    }

    /** A request of another size than Adder's fails its call alone; the channel goes on being answered. */
    @ParameterizedTest
    @EnumSource(Transport.class)
    void aRequestThatIsNotSixteenBytesFailsItsCallAndTheNextIsAnswered(Transport transport) throws Exception {
        MethodDescriptor.Marshaller<byte[]> raw = new MethodDescriptor.Marshaller<>() {
            @Override
            public InputStream stream(byte[] bytes) {
                return new ByteArrayInputStream(bytes);
            }

            @Override
            public byte[] parse(InputStream stream) {
                try {
                    return stream.readAllBytes();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        };
        MethodDescriptor<byte[], byte[]> rawAdd = GrpcPeer.ADD.toBuilder(raw, raw).build();
        try (GrpcPeer.Running peer = start(transport)) {
            AdderAddress address = peer.addresses().get(0);
            EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
            ManagedChannel channel = (address.isUnix()
                    ? NettyChannelBuilder.forAddress(new DomainSocketAddress(address.unixPath().toFile()))
                            .channelType(EpollDomainSocketChannel.class)
                    : NettyChannelBuilder.forAddress(new InetSocketAddress(address.host(), address.port()))
                            .channelType(EpollSocketChannel.class))
                    .eventLoopGroup(loop).usePlaintext().build();
            try {
                for (int size : new int[] {15, 17}) {
                    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                            () -> ClientCalls.blockingUnaryCall(channel, rawAdd, CallOptions.DEFAULT, new byte[size]));
                    // grpc-java's server answers a message it cannot parse so, whatever the marshaller threw
                    assertEquals(Status.Code.UNKNOWN, e.getStatus().getCode());
                }
                byte[] request = HexFormat.of().parseHex("07000000000000000a00000000000000");
                assertArrayEquals(HexFormat.of().parseHex("1100000000000000"),
                        ClientCalls.blockingUnaryCall(channel, rawAdd, CallOptions.DEFAULT, request));
            } finally {
                channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                loop.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
            }
        }
    }

    @Test
    void stoppingRemovesTheSocketFile() throws IOException {
        Path socket;
        try (GrpcPeer.Running peer = start(Transport.UNIX)) {
            socket = peer.addresses().get(0).unixPath();
            assertTrue(Files.exists(socket));
        }
        assertTrue(Files.notExists(socket));
    }

    /** The bench's {@code client --peer grpc}: every answer checked, none wrong, in each mode Java 17 has. */
    @ParameterizedTest
    @EnumSource(Transport.class)
    void theClientBenchDrivesTheGrpcPeerWithoutAWrongAnswer(Transport transport) throws Exception {
        try (GrpcPeer.Running peer = start(transport)) {
            String address = peer.addresses().get(0).toString();
            for (String[] mode : new String[][] {{"--callers", "1"}, {"--callers", "64"}, {"--async", "1000"},
                    {"--callers", "4", "--client-each"}}) {
                List<String> args = new ArrayList<>(List.of("--peer", "grpc", "--connect", address,
                        "--seconds", "0.2", "--warmup", "0"));
                args.addAll(List.of(mode));
                String printed = printedBy(args.toArray(String[]::new));
                assertTrue(printed.contains(" errors=0"), String.join(" ", mode) + ": " + printed);
            }
        }
    }

    @Test
    void theGrpcPeerHasNoBatch() throws Exception {
        assertEquals(2, ClientBench.main(new String[] {"--peer", "grpc", "--connect", "tcp:127.0.0.1:1",
            "--batch", "10"}));
        assertEquals(2, ClientBench.main(new String[] {"--peer", "http", "--connect", "tcp:127.0.0.1:1"}));
    }

    private static String printedBy(String[] args) throws Exception {
        PrintStream out = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, ClientBench.main(args));
        } finally {
            System.setOut(out);
        }
        return printed.toString(StandardCharsets.UTF_8);
    }
}
