import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

/**
 * The floor that startup.py measures a daemon against: the least a Java
 * program does to answer the adder protocol on a Unix socket (one request a
 * connection, blocking, java.base only, no logging). Whatever the daemon
 * takes beyond this program's start and memory, on the same runtime with
 * the same flags, is the daemon's own.
 *
 *     java Floor PATH
 */
public final class Floor {

    public static void main(String[] args) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(args[0]));
            while (true) {
                try (SocketChannel client = server.accept()) {
                    buffer.clear();
                    while (buffer.hasRemaining() && client.read(buffer) >= 0) {
                        // a request may come in pieces
                    }
                    if (!buffer.hasRemaining()) {
                        long sum = buffer.getLong(0) + buffer.getLong(8);
                        buffer.clear().putLong(sum).flip();
                        while (buffer.hasRemaining()) {
                            client.write(buffer);
                        }
                    }
                }
            }
        }
    }
}
