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
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * The peer Adder is measured against: the adder protocol served the way a
 * competent engineer would with Netty 4.2, on its native epoll transport,
 * with one event loop thread for accepting and serving (comparable to
 * Adder's single thread).
 *
 * <p>{@code netty --listen ADDR [--listen ADDR]...}; SIGTERM stops it.
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
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--listen") && i + 1 < args.length) {
                listen.add(AdderAddress.parse(args[++i]));
            } else {
                System.err.println("usage: netty --listen ADDR [--listen ADDR]...");
                return 2;
            }
        }
        if (listen.isEmpty()) {
            System.err.println("usage: netty --listen ADDR [--listen ADDR]...");
            return 2;
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
                    bound.add(AdderAddress.of(channel.localAddress()).toString());
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
}
