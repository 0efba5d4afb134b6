package dev.adder.bench;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * Opens N connections, checks one request on each, then holds them all idle
 * for S seconds: the load for measuring memory per idle connection.
 *
 * <p>{@code hold --connect ADDR --conns N --seconds S}; prints {@code holding N}
 * once every connection has been answered.
 */
final class Hold {

    private Hold() {
    }

    static int main(String[] args) throws Exception {
        AdderAddress address = null;
        int conns = 10_000;
        double seconds = 30;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--connect" -> address = AdderAddress.parse(args[i + 1]);
                case "--conns" -> conns = Integer.parseInt(args[i + 1]);
                case "--seconds" -> seconds = Double.parseDouble(args[i + 1]);
                default -> {
                    System.err.println("usage: hold --connect ADDR [--conns N] [--seconds S]");
                    return 2;
                }
            }
        }
        if (address == null) {
            System.err.println("usage: hold --connect ADDR [--conns N] [--seconds S]");
            return 2;
        }
        List<SocketChannel> held = new ArrayList<>(conns);
        ByteBuffer request = ByteBuffer.allocate(Protocol.REQUEST_BYTES);
        ByteBuffer response = ByteBuffer.allocate(Protocol.RESPONSE_BYTES);
        try {
            for (int c = 0; c < conns; c++) {
                SocketChannel channel = SocketChannel.open(address.toSocketAddress());
                held.add(channel);
                request.clear();
                Protocol.encodeRequest(request, c, 1);
                request.flip();
                while (request.hasRemaining()) {
                    channel.write(request);
                }
                response.clear();
                while (response.hasRemaining()) {
                    if (channel.read(response) < 0) {
                        throw new IOException("server closed connection " + c);
                    }
                }
                response.flip();
                if (Protocol.decodeResponse(response) != c + 1) {
                    throw new IOException("wrong answer on connection " + c);
                }
            }
            System.out.println("holding " + held.size());
            Thread.sleep((long) (seconds * 1000));
            return 0;
        } finally {
            for (SocketChannel channel : held) {
                channel.close();
            }
        }
    }
}
