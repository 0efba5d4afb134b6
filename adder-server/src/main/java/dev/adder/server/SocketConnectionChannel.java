package dev.adder.server;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import jdk.net.ExtendedSocketOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A connection's channel as the loop has it: a socket registered with the
 * loop's selector, under the key it was last told of. The key's attachment
 * is the {@link Connection}, not this channel.
 */
final class SocketConnectionChannel implements ConnectionChannel {

    private static final Logger log = LoggerFactory.getLogger(SocketConnectionChannel.class);
    /** Cleared where the platform has no TCP_QUICKACK (it is Linux-only). */
    private static volatile boolean quickAckSupported = true;

    private final SocketChannel socket;
    private final boolean tcp;
    /** Null until registered; replaced when the loop rebuilds its selector. */
    private SelectionKey key;

    SocketConnectionChannel(SocketChannel socket, boolean tcp) {
        this.socket = socket;
        this.tcp = tcp;
    }

    @Override
    public void registeredAs(SelectionKey key) {
        this.key = key;
    }

    @Override
    public int read(ByteBuffer into) throws IOException {
        return socket.read(into);
    }

    @Override
    public int write(ByteBuffer from) throws IOException {
        return socket.write(from);
    }

    @Override
    public long write(ByteBuffer[] from, int offset, int length) throws IOException {
        return socket.write(from, offset, length);
    }

    @Override
    public long write(ByteBuffer[] from) throws IOException {
        return socket.write(from);
    }

    @Override
    public void shutdownOutput() throws IOException {
        socket.shutdownOutput();
    }

    @Override
    public boolean isOpen() {
        return socket.isOpen();
    }

    @Override
    public void close() {
        if (key != null) {
            key.cancel();
        }
        try {
            socket.close();
        } catch (ClosedChannelException ignored) {
            // already closed
        } catch (IOException e) {
            log.debug("error closing {}: {}", socket, e.toString());
        }
    }

    @Override
    public void interest(int ops) {
        if (key.isValid() && key.interestOps() != ops) {
            key.interestOps(ops);
        }
    }

    /**
     * A TCP client that writes {@code x} and {@code y} separately with Nagle's
     * algorithm on (the teaching client does) holds {@code y} until {@code x}
     * is acknowledged, while Linux delays that acknowledgement by up to 40 ms.
     * The kernel clears TCP_QUICKACK by itself, hence it is set each time.
     */
    @Override
    public void acknowledgeAtOnce() {
        if (!tcp || !quickAckSupported) {
            return;
        }
        try {
            socket.setOption(ExtendedSocketOptions.TCP_QUICKACK, true);
        } catch (UnsupportedOperationException e) {
            quickAckSupported = false;
        } catch (IOException e) {
            log.debug("could not set TCP_QUICKACK on {}: {}", socket, e.toString());
        }
    }
}
