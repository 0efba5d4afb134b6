package dev.adder.bench;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.unix.DomainSocketAddress;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The peer a Java team would pick instead of Adder: the same sum as one unary gRPC method,
 * {@code adder.Adder/add}, on grpc-java's Netty transport (the shaded one) over native epoll, TCP
 * and Unix sockets. No code generation and no protobuf: the method is described by hand, its
 * request marshalled as the 16 bytes of Adder's request frame and its response as the 8 bytes of
 * Adder's answer, so the difference measured is HTTP/2 and gRPC's call machinery alone.
 *
 * <p>The sum wraps on overflow, as Adder's does ({@link Protocol#answer}): the protocol has no
 * error channel, and neither has this method. A request that is not 16 bytes fails its call alone
 * (the marshaller throws INTERNAL; grpc-java's server answers UNKNOWN for any message it cannot parse).
 *
 * <p>{@code grpc --listen ADDR [--listen ADDR]... [--default-executor]}: one event loop thread
 * accepts and serves every listener (as Adder's single thread and the Netty peer's); the method
 * runs on that thread ({@code directExecutor}, grpc-java's advice for handlers that never block)
 * unless {@code --default-executor}, which keeps grpc-java's default, a cached thread pool the
 * calls hop to. SIGTERM stops it.
 */
final class GrpcPeer {

    /** The request: Adder's two operands. */
    record Pair(long x, long y) {
    }

    /** {@code x} then {@code y}, little-endian: Adder's request frame. */
    static final MethodDescriptor.Marshaller<Pair> PAIR = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(Pair pair) {
            ByteBuffer bytes = ByteBuffer.allocate(Protocol.REQUEST_BYTES);
            Protocol.encodeRequest(bytes, pair.x(), pair.y());
            return new ByteArrayInputStream(bytes.array());
        }

        @Override
        public Pair parse(InputStream stream) {
            ByteBuffer bytes = readExactly(stream, Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
            return new Pair(bytes.getLong(), bytes.getLong());
        }
    };

    /** The sum, little-endian: Adder's answer frame. */
    static final MethodDescriptor.Marshaller<Long> SUM = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(Long sum) {
            ByteBuffer bytes = ByteBuffer.allocate(Protocol.RESPONSE_BYTES);
            Protocol.encodeResponse(bytes, sum);
            return new ByteArrayInputStream(bytes.array());
        }

        @Override
        public Long parse(InputStream stream) {
            return Protocol.decodeResponse(readExactly(stream, Protocol.RESPONSE_BYTES));
        }
    };

    static final MethodDescriptor<Pair, Long> ADD = MethodDescriptor.<Pair, Long>newBuilder(PAIR, SUM)
            .setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName(MethodDescriptor.generateFullMethodName("adder.Adder", "add"))
            .setIdempotent(true)
            .build();

    private GrpcPeer() {
    }

    private static ByteBuffer readExactly(InputStream stream, int size) {
        try {
            byte[] bytes = stream.readNBytes(size + 1);
            if (bytes.length != size) {
                throw Status.INTERNAL.withDescription("expected a message of " + size + " bytes, got "
                        + (bytes.length > size ? "more" : bytes.length)).asRuntimeException();
            }
            return ByteBuffer.wrap(bytes).order(Protocol.BYTE_ORDER);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static ServerServiceDefinition service() {
        return ServerServiceDefinition.builder("adder.Adder")
                .addMethod(ADD, ServerCalls.asyncUnaryCall((Pair pair, StreamObserver<Long> answer) -> {
                    answer.onNext(Protocol.answer(pair.x(), pair.y()));
                    answer.onCompleted();
                }))
                .build();
    }

    /** A running peer: one gRPC server per listener, sharing one event loop thread. */
    static final class Running implements AutoCloseable {
        private final EventLoopGroup loop;
        private final List<Server> servers = new ArrayList<>();
        private final List<AdderAddress> listening = new ArrayList<>();

        private Running(EventLoopGroup loop) {
            this.loop = loop;
        }

        /** Where it listens, a TCP port as bound. */
        List<AdderAddress> addresses() {
            return List.copyOf(listening);
        }

        /** Stops every listener, its calls given 5 s to end, then the loop; the socket files go. */
        @Override
        public void close() {
            for (Server server : servers) {
                server.shutdown();
            }
            for (Server server : servers) {
                try {
                    if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
                        server.shutdownNow();
                    }
                } catch (InterruptedException e) {
                    server.shutdownNow();
                    Thread.currentThread().interrupt();
                }
            }
            loop.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
            for (AdderAddress address : listening) {
                if (address.isUnix()) {
                    address.unixPath().toFile().delete();
                }
            }
        }
    }

    static Running start(List<AdderAddress> listen, boolean defaultExecutor) throws IOException {
        requireEpoll();
        Running running = new Running(new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory()));
        try {
            for (AdderAddress address : listen) {
                if (address.isTls()) {
                    throw new IllegalArgumentException("grpc: plain listeners only (unix:PATH, tcp:HOST:PORT), not " + address);
                }
                NettyServerBuilder builder;
                if (address.isUnix()) {
                    Files.deleteIfExists(address.unixPath());
                    builder = NettyServerBuilder.forAddress(new DomainSocketAddress(address.unixPath().toFile()))
                            .channelType(EpollServerDomainSocketChannel.class);
                } else {
                    builder = NettyServerBuilder.forAddress(new InetSocketAddress(address.host(), address.port()))
                            .channelType(EpollServerSocketChannel.class);
                }
                builder.bossEventLoopGroup(running.loop).workerEventLoopGroup(running.loop).addService(service());
                if (!defaultExecutor) {
                    builder.directExecutor();
                }
                Server server = builder.build().start();
                running.servers.add(server);
                running.listening.add(address.isUnix() ? address
                        : AdderAddress.of((InetSocketAddress) server.getListenSockets().get(0)));
            }
        } catch (IOException | RuntimeException e) {
            running.close();
            throw e;
        }
        return running;
    }

    private static void requireEpoll() {
        if (!Epoll.isAvailable()) {
            throw new IllegalStateException("grpc: the shaded Netty's native epoll is not available here",
                    Epoll.unavailabilityCause());
        }
    }

    static int main(String[] args) throws Exception {
        List<AdderAddress> listen = new ArrayList<>();
        boolean defaultExecutor = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--default-executor")) {
                defaultExecutor = true;
            } else if (args[i].equals("--listen") && i + 1 < args.length) {
                listen.add(AdderAddress.parse(args[++i]));
            } else {
                return usage();
            }
        }
        if (listen.isEmpty() || listen.stream().anyMatch(AdderAddress::isTls)) {
            return usage();
        }
        Running running = start(listen, defaultExecutor);
        CountDownLatch stopped = new CountDownLatch(1);
        System.out.println("grpc peer listening on " + String.join(", ",
                running.addresses().stream().map(AdderAddress::toString).toList())
                + (defaultExecutor ? "; the calls on grpc-java's default executor" : "; the calls on the event loop"));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            running.close();
            stopped.countDown();
        }, "grpc-peer-stop"));
        stopped.await();
        return 0;
    }

    private static int usage() {
        System.err.println("usage: grpc --listen unix:PATH|tcp:HOST:PORT [--listen ADDR]... [--default-executor]");
        return 2;
    }

    /**
     * A gRPC client of the peer: one channel (one HTTP/2 connection) on its own event loop thread,
     * native epoll, plain text, connected (one call answered) when built; answers complete on that
     * thread ({@code directExecutor}), as Adder's client completes its futures on its own I/O thread.
     * Blocking calls wait on the calling thread.
     */
    static final class Client implements ClientBench.Calls {
        private final EventLoopGroup loop;
        private final ManagedChannel channel;

        Client(AdderAddress address) {
            requireEpoll();
            if (address.isTls()) {
                throw new IllegalArgumentException("grpc: plain addresses only (unix:PATH, tcp:HOST:PORT), not " + address);
            }
            SocketAddress target = address.isUnix() ? new DomainSocketAddress(address.unixPath().toFile())
                    : new InetSocketAddress(address.host(), address.port());
            loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
            channel = NettyChannelBuilder.forAddress(target)
                    .channelType(address.isUnix() ? EpollDomainSocketChannel.class : EpollSocketChannel.class)
                    .eventLoopGroup(loop)
                    .usePlaintext()
                    .directExecutor()
                    .build();
            // connected before it is used, as Adder's client is once built: a channel connects at its
            // first call, which also pays for HTTP/2's setup and the shaded Netty's first use (its JFR
            // events' registration, seconds on a loaded machine), none of it the calls' own cost
            try {
                if (add(7, 10) != 17) {
                    throw new IllegalStateException("grpc: the peer at " + address + " answered 7 + 10 wrongly");
                }
            } catch (RuntimeException e) {
                channel.shutdownNow();
                loop.shutdownGracefully(0, 5, TimeUnit.SECONDS);
                throw e;
            }
        }

        @Override
        public long add(long x, long y) {
            return ClientCalls.blockingUnaryCall(channel, ADD, CallOptions.DEFAULT, new Pair(x, y));
        }

        @Override
        public CompletableFuture<Long> addAsync(long x, long y) {
            CompletableFuture<Long> sum = new CompletableFuture<>();
            ClientCalls.asyncUnaryCall(channel.newCall(ADD, CallOptions.DEFAULT), new Pair(x, y),
                    new StreamObserver<Long>() {
                        @Override
                        public void onNext(Long value) {
                            sum.complete(value);
                        }

                        @Override
                        public void onError(Throwable failure) {
                            sum.completeExceptionally(failure);
                        }

                        @Override
                        public void onCompleted() {
                            if (!sum.isDone()) {
                                sum.completeExceptionally(new IllegalStateException("grpc: the call ended without an answer"));
                            }
                        }
                    });
            return sum;
        }

        @Override
        public void close() throws InterruptedException {
            channel.shutdown();
            if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
                channel.shutdownNow();
            }
            loop.shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }
}
