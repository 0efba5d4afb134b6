package dev.adder.server;

import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A listening channel of the loop, bound and registered for {@code OP_ACCEPT};
 * {@code file} is set for Unix-domain listeners. Readiness goes to its
 * loop's {@link Acceptor}.
 */
final class Listener extends KeyHandler {

    private static final Logger log = LoggerFactory.getLogger(Listener.class);
    static final int BACKLOG = 4096;

    final ServerSocketChannel channel;
    /** The address as bound: the real port where 0 was asked for. */
    final AdderAddress address;
    final UnixSocketFile file;
    private SelectionKey key;
    /** Accepts when the listener is ready, and brings it back after a failed accept; set by the acceptor. */
    Acceptor acceptor;
    Timers.Timer resume;

    private Listener(ServerSocketChannel channel, AdderAddress address, UnixSocketFile file) {
        this.channel = channel;
        this.address = address;
        this.file = file;
    }

    /**
     * Binds every address of the configuration and registers it with the
     * selector for {@code OP_ACCEPT}, or binds none: a failure closes what was bound.
     */
    static List<Listener> bindAll(ServerConfig config, Selector selector) throws IOException {
        List<Listener> bound = new ArrayList<>();
        try {
            for (AdderAddress address : config.listen()) {
                Listener listener = bind(address, config);
                bound.add(listener);
                listener.registeredAs(listener.channel.register(selector, SelectionKey.OP_ACCEPT, listener));
            }
        } catch (IOException | RuntimeException e) {
            bound.forEach(Listener::close);
            throw e;
        }
        return List.copyOf(bound);
    }

    /** Binds one address, non-blocking; the message of a failure names the address. */
    private static Listener bind(AdderAddress address, ServerConfig config) throws IOException {
        if (address.isUnix()) {
            UnixSocketFile.Bound bound = UnixSocketFile.bind(address, config.unixSocketPermissions(), BACKLOG);
            try {
                bound.channel().configureBlocking(false);
            } catch (IOException e) {
                Listener listener = new Listener(bound.channel(), address, bound.file());
                listener.close();
                throw e;
            }
            return new Listener(bound.channel(), address, bound.file());
        }
        InetSocketAddress socketAddress = (InetSocketAddress) address.toSocketAddress();
        if (socketAddress.isUnresolved()) {
            throw new IOException("cannot listen on " + address + ": unknown host '" + address.host() + "'");
        }
        ServerSocketChannel channel = ServerSocketChannel.open();
        try {
            channel.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            channel.bind(socketAddress, BACKLOG);
            channel.configureBlocking(false);
        } catch (IOException e) {
            channel.close();
            throw new IOException("cannot listen on " + address + ": " + e.getMessage(), e);
        }
        AdderAddress real = AdderAddress.of(channel.getLocalAddress());
        AdderAddress bound = address.isTls() ? AdderAddress.tls(address.host(), real.port()) : AdderAddress.tcp(address.host(), real.port());
        return new Listener(channel, bound, null);
    }

    @Override
    void onReady(int readyOps) {
        acceptor.accept(this);
    }

    @Override
    void registeredAs(SelectionKey key) {
        this.key = key;
    }

    /** Sets the listener's interest ({@code OP_ACCEPT} or 0); false if it is closed. */
    boolean interest(int ops) {
        if (!key.isValid()) {
            return false;
        }
        key.interestOps(ops);
        return true;
    }

    /** Stops listening and removes the socket file this listener created. Idempotent. */
    void close() {
        if (!channel.isOpen()) {
            return;
        }
        if (key != null) {
            key.cancel();
        }
        try {
            channel.close();
        } catch (IOException e) {
            log.debug("error closing the listener on {}: {}", address, e.toString());
        }
        if (file != null) {
            file.remove();
        }
    }
}
