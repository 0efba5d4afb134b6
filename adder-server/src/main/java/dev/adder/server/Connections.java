package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One loop's connections: the list of those open, and what they share to be
 * served: the loop-owned buffers a read and its answers pass through, the
 * limit of answers one may hold, the budget of all held answers, the clock
 * and the counters. It registers each socket handed to the loop, and is told
 * when a connection closes.
 *
 * <p>A connection is on the list from its construction until it closes, so
 * a sweep, a stop or a turn of the budget reaches every open one, and none
 * other. Loop thread only, but for {@link #given}.
 */
final class Connections {

    private static final Logger log = LoggerFactory.getLogger(Connections.class);

    /**
     * One read per connection per turn takes up to this much: a Unix socket's
     * default send buffer fits in it, and one turn's answers fit in {@code out}.
     */
    static final int READ_BUFFER_BYTES = 256 * 1024;
    /** The most answers one read produces. */
    static final int ONE_READS_ANSWERS = (READ_BUFFER_BYTES / Protocol.REQUEST_BYTES + 1) * Protocol.RESPONSE_BYTES;

    final ByteBuffer in = ByteBuffer.allocateDirect(READ_BUFFER_BYTES).order(Protocol.BYTE_ORDER);
    final ByteBuffer out = ByteBuffer.allocateDirect(ONE_READS_ANSWERS).order(Protocol.BYTE_ORDER);
    /** Scratch for gathering writes of pending output. */
    final ByteBuffer[] gather = new ByteBuffer[OutputBuffer.CHUNKS_PER_WRITE];
    final int maxPendingOutput;
    final LoopStats stats;
    final OutputBudget budget;
    final Clock clock;
    /** This loop's part of TLS; null when the server has no TLS listener. */
    private LoopTls tls;
    /**
     * Connections given to this loop and not yet closed: raised by the loop
     * that accepted them (at the hand-off, before this loop registers them),
     * lowered here as each closes. Any thread reads it: the group's connection
     * limit and its choice of the least-loaded loop count it.
     */
    final AtomicInteger given = new AtomicInteger();
    private Connection first;
    private long lastId;

    Connections(int maxPendingOutput, long maxPendingOutputTotal, LoopStats stats, Clock clock) {
        this.maxPendingOutput = maxPendingOutput;
        this.stats = stats;
        this.clock = clock;
        this.budget = new OutputBudget(maxPendingOutputTotal, stats, clock, this);
    }

    /** Serves TLS connections with what {@code loopTls} holds; before any is registered. */
    void serveTls(LoopTls loopTls) {
        this.tls = loopTls;
    }

    /**
     * Serves a socket given to this loop: registers it with the selector for
     * reading. Returns the connection, or null if the socket could not be
     * registered (it is closed then). A TLS socket comes counted among the
     * handshakes in progress; its channel counts it out.
     */
    Connection register(SocketChannel socket, AdderAddress address, Selector selector) {
        boolean tcp = !address.isUnix();
        ConnectionChannel channel;
        if (address.isTls()) {
            try {
                channel = new TlsConnectionChannel(socket, tls, clock.nanoTime());
            } catch (IOException | RuntimeException e) {
                log.warn("cannot begin TLS on a connection to {}: {}", address, e.toString());
                tls.ended();
                given.decrementAndGet();
                new SocketConnectionChannel(socket, tcp).close();
                return null;
            }
        } else {
            channel = new SocketConnectionChannel(socket, tcp);
        }
        stats.openConnections.add(1); // counted before it exists: a failure below closes it, which counts it out
        Connection connection = new Connection(++lastId, channel, address, this);
        if (channel instanceof TlsConnectionChannel tlsChannel) {
            tlsChannel.servedBy(connection);
        }
        try {
            socket.configureBlocking(false);
            if (tcp) {
                socket.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
            connection.registeredAs(socket.register(selector, SelectionKey.OP_READ, connection));
        } catch (IOException e) {
            log.debug("{}: could not register: {}", connection, e.toString());
            connection.close();
            return null;
        }
        stats.accepted.add(1);
        log.debug("{}: accepted", connection);
        return connection;
    }

    /** Puts a new connection on the list; its constructor calls it. */
    void add(Connection connection) {
        connection.nextOpen = first;
        if (first != null) {
            first.prevOpen = connection;
        }
        first = connection;
    }

    /** Takes a connection that closed off the list and out of the counts; its {@link Connection#close()} calls it. */
    void closed(Connection connection) {
        if (connection.prevOpen != null) {
            connection.prevOpen.nextOpen = connection.nextOpen;
        } else if (first == connection) {
            first = connection.nextOpen;
        }
        if (connection.nextOpen != null) {
            connection.nextOpen.prevOpen = connection.prevOpen;
        }
        connection.prevOpen = null;
        connection.nextOpen = null;
        stats.openConnections.add(-1);
        given.decrementAndGet();
    }

    /** Runs {@code action} on every open connection; the action may close the one it is given. */
    void forEach(Consumer<Connection> action) {
        Connection next;
        for (Connection connection = first; connection != null; connection = next) {
            next = connection.nextOpen;
            action.accept(connection);
        }
    }

    /** The budget went over, or back under: every connection is told, so that none asks it at each read. */
    void budgetTurned(boolean over) {
        for (Connection connection = first; connection != null; connection = connection.nextOpen) {
            connection.budgetTurned(over);
        }
    }

    /** Closes every connection, and zeroes what they counted: the loop is ending. */
    void closeAll() {
        forEach(Connection::close);
        stats.openConnections.set(0);
        given.set(0);
        stats.pendingOutput.set(0);
    }
}
