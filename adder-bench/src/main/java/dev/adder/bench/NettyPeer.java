package dev.adder.bench;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.ssl.JdkSslContext;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * The peer Adder is measured against: the adder protocol served the way a
 * competent engineer would with Netty 4.2, on its native epoll transport,
 * with one event loop thread for accepting and serving (comparable to
 * Adder's single thread).
 *
 * <p>{@code netty --listen ADDR [--listen ADDR]... [--tls-cert FILE --tls-key FILE [--tls-provider jdk|openssl]]};
 * SIGTERM stops it.
 *
 * <p>A {@code tls:HOST:PORT} listener puts Netty's {@code SslHandler} in
 * front of the decoder, from an {@code SslContext} made of the same files as
 * Adder's daemon takes (a PEM chain, the server's certificate first, and its
 * PEM PKCS#8 key), TLS 1.3 and 1.2 as Adder offers. The engine is the JDK's
 * ({@code --tls-provider jdk}, the default: the same engine as Adder's) or
 * BoringSSL's through netty-tcnative ({@code openssl}); the TLS handshake's
 * work runs on the event loop, as Netty does by default.
 */
final class NettyPeer {

    private NettyPeer() {
    }

    /**
     * Answers every complete request of each read batch into one buffer,
     * written once; the flush comes once per batch of reads, when the
     * channel's read loop completes.
     */
    static final class AdderDecoder extends ByteToMessageDecoder {
        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
            int requests = in.readableBytes() / Protocol.REQUEST_BYTES;
            if (requests == 0) {
                return;
            }
            ByteBuf answers = ctx.alloc().ioBuffer(requests * Protocol.RESPONSE_BYTES);
            for (int i = 0; i < requests; i++) {
                answers.writeLongLE(in.readLongLE() + in.readLongLE());
            }
            ctx.write(answers, ctx.voidPromise());
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) throws Exception {
            ctx.flush();
            super.channelReadComplete(ctx);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    static int main(String[] args) throws Exception {
        List<AdderAddress> listen = new ArrayList<>();
        Path cert = null;
        Path key = null;
        String provider = "jdk";
        for (int i = 0; i < args.length; i++) {
            if (i + 1 >= args.length) {
                return usage();
            }
            switch (args[i]) {
                case "--listen" -> listen.add(AdderAddress.parse(args[++i]));
                case "--tls-cert" -> cert = Path.of(args[++i]);
                case "--tls-key" -> key = Path.of(args[++i]);
                case "--tls-provider" -> provider = args[++i];
                default -> {
                    return usage();
                }
            }
        }
        if (listen.isEmpty()) {
            return usage();
        }
        boolean tls = listen.stream().anyMatch(AdderAddress::isTls);
        if (tls != (cert != null && key != null)) {
            System.err.println(tls ? "netty: a tls: listener needs --tls-cert FILE and --tls-key FILE"
                    : "netty: --tls-cert and --tls-key go with a tls: listener, both of them");
            return 2;
        }
        SslContext sslContext = tls ? sslContext(cert, key, provider) : null;
        if (tls) {
            System.out.println("netty peer TLS: " + describe(sslContext));
        }
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        CountDownLatch stopped = new CountDownLatch(1);
        List<String> bound = new ArrayList<>();
        try {
            for (AdderAddress address : listen) {
                ServerBootstrap bootstrap = new ServerBootstrap().group(loop)
                        .childHandler(new ChannelInitializer<Channel>() {
                            @Override
                            protected void initChannel(Channel channel) {
                                if (address.isTls()) {
                                    channel.pipeline().addLast(sslContext.newHandler(channel.alloc()));
                                }
                                channel.pipeline().addLast(new AdderDecoder());
                            }
                        });
                Channel channel;
                if (address.isUnix()) {
                    Files.deleteIfExists(address.unixPath());
                    channel = bootstrap.channel(EpollServerDomainSocketChannel.class)
                            .bind(new DomainSocketAddress(address.unixPath().toFile())).sync().channel();
                    bound.add(address.toString());
                } else {
                    channel = bootstrap.channel(EpollServerSocketChannel.class)
                            .option(ChannelOption.SO_BACKLOG, 4096)
                            .childOption(ChannelOption.TCP_NODELAY, true)
                            .bind(new InetSocketAddress(address.host(), address.port())).sync().channel();
                    InetSocketAddress local = (InetSocketAddress) channel.localAddress();
                    bound.add((address.isTls() ? AdderAddress.tls(local.getHostString(), local.getPort())
                            : AdderAddress.of(local)).toString());
                }
            }
            System.out.println("netty peer listening on " + String.join(", ", bound));
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                loop.shutdownGracefully().syncUninterruptibly();
                for (AdderAddress address : listen) {
                    if (address.isUnix()) {
                        address.unixPath().toFile().delete();
                    }
                }
                stopped.countDown();
            }, "netty-peer-stop"));
            stopped.await();
        } finally {
            loop.shutdownGracefully();
        }
        return 0;
    }

    private static int usage() {
        System.err.println("usage: netty --listen ADDR [--listen ADDR]... [--tls-cert FILE --tls-key FILE"
                + " [--tls-provider jdk|openssl]]");
        return 2;
    }

    /** The server's TLS context: the files Adder's daemon takes, the engine asked for. */
    private static SslContext sslContext(Path cert, Path key, String provider) throws Exception {
        SslProvider chosen = switch (provider) {
            case "jdk" -> SslProvider.JDK;
            case "openssl" -> {
                if (!OpenSsl.isAvailable()) {
                    throw new IllegalStateException("netty: OpenSSL (netty-tcnative) is not available here",
                            OpenSsl.unavailabilityCause());
                }
                yield SslProvider.OPENSSL;
            }
            default -> throw new IllegalArgumentException("netty: --tls-provider is jdk or openssl, not " + provider);
        };
        return SslContextBuilder.forServer(cert.toFile(), key.toFile())
                .sslProvider(chosen)
                .protocols("TLSv1.3", "TLSv1.2")
                .build();
    }

    private static String describe(SslContext context) {
        String engine = context instanceof JdkSslContext ? "the JDK's SSLEngine (" + System.getProperty("java.version") + ")"
                : OpenSsl.versionString() + " through netty-tcnative";
        return engine + ", cipher suites " + String.join(",", context.cipherSuites());
    }
}
