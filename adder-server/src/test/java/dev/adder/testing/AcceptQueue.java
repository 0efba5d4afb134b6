package dev.adder.testing;

import java.io.IOException;
import java.net.SocketException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.List;

/**
 * Fills a Unix listener's accept queue with connections nobody accepts: what
 * a live server too busy to accept looks like to a client or a second server.
 */
public final class AcceptQueue {
    private AcceptQueue() {
    }

    /**
     * Connects without blocking to the listener at {@code path} until its
     * accept queue refuses more; every connection made, the refused one too,
     * is added to {@code queued} for the caller to close.
     */
    public static void fill(Path path, List<SocketChannel> queued) throws IOException {
        for (int i = 0; i < 10_000; i++) {
            SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            queued.add(channel);
            channel.configureBlocking(false);
            try {
                channel.connect(UnixDomainSocketAddress.of(path));
            } catch (SocketException full) {
                return;
            }
        }
        throw new AssertionError("the accept queue never filled");
    }
}
