package dev.adder.bench;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A long mixed run against one server: most connections ping-pong, some
 * pipeline, and abusive clients churn beside them (reset at once, reset or
 * half-close mid-request, one byte then silence, flood without reading).
 * Every answer of the well-behaved connections is checked.
 *
 * <p>{@code soak --connect ADDR [--conns N] [--minutes M]}; exits 1 on any error.
 */
final class Soak {

    private Soak() {
    }

    static int main(String[] args) throws Exception {
        AdderAddress address = null;
        int conns = 1000;
        double minutes = 1;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--connect" -> address = AdderAddress.parse(args[i + 1]);
                case "--conns" -> conns = Integer.parseInt(args[i + 1]);
                case "--minutes" -> minutes = Double.parseDouble(args[i + 1]);
                default -> {
                    System.err.println("usage: soak --connect ADDR [--conns N] [--minutes M]");
                    return 2;
                }
            }
        }
        if (address == null) {
            System.err.println("usage: soak --connect ADDR [--conns N] [--minutes M]");
            return 2;
        }
        String seconds = String.format(Locale.ROOT, "%.1f", minutes * 60);
        int pipelined = Math.max(1, conns * 15 / 100);
        int abusers = Math.max(6, conns * 5 / 100);
        int pingPong = Math.max(1, conns - pipelined - abusers);
        AdderAddress target = address;
        ExecutorService pool = Executors.newFixedThreadPool(2 + abusers);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong abusiveConnections = new AtomicLong();
        AtomicLong abuseErrors = new AtomicLong();
        try {
            System.out.printf("soak: %d ping-pong, %d pipelined (depth 32), %d abusive slots, %s s%n",
                    pingPong, pipelined, abusers, seconds);
            Future<Integer> pingPongRun = pool.submit(() -> Load.main(new String[] {"--connect", target.toString(),
                "--conns", String.valueOf(pingPong), "--depth", "1", "--seconds", seconds, "--warmup", "0"}));
            Future<Integer> pipelinedRun = pool.submit(() -> Load.main(new String[] {"--connect", target.toString(),
                "--conns", String.valueOf(pipelined), "--depth", "32", "--seconds", seconds, "--warmup", "0"}));
            List<Future<?>> abuse = new ArrayList<>();
            for (int a = 0; a < abusers; a++) {
                long seed = a;
                abuse.add(pool.submit(() -> {
                    abuse(target, new SplittableRandom(seed), stop, abusiveConnections, abuseErrors);
                    return null;
                }));
            }
            int status = pingPongRun.get() | pipelinedRun.get();
            stop.set(true);
            for (Future<?> f : abuse) {
                f.get();
            }
            System.out.printf("soak: the ping-pong and pipelined lines above, in the order they finished;"
                    + " %d abusive connections, %d of them failed unexpectedly%n",
                    abusiveConnections.get(), abuseErrors.get());
            return status != 0 || abuseErrors.get() > 0 ? 1 : 0;
        } finally {
            stop.set(true);
            pool.shutdownNow();
        }
    }

    private static void abuse(AdderAddress address, SplittableRandom random, AtomicBoolean stop,
            AtomicLong count, AtomicLong errors) throws InterruptedException {
        ArrayDeque<SocketChannel> silent = new ArrayDeque<>();
        ByteBuffer flood = ByteBuffer.allocate(64 * 1024);
        while (!stop.get()) {
            try {
                SocketChannel channel = SocketChannel.open(address.toSocketAddress());
                count.incrementAndGet();
                switch (random.nextInt(5)) {
                    case 0 -> reset(channel, address);
                    case 1 -> {
                        channel.write(ByteBuffer.wrap(new byte[23])); // a request and a half
                        reset(channel, address);
                    }
                    case 2 -> {
                        ByteBuffer request = ByteBuffer.allocate(21);
                        Protocol.encodeRequest(request, 40, 2);
                        channel.write(request.clear());
                        channel.shutdownOutput();
                        ByteBuffer answer = ByteBuffer.allocate(8).order(Protocol.BYTE_ORDER);
                        while (answer.hasRemaining() && channel.read(answer) >= 0) {
                            // read the one answer owed
                        }
                        if (answer.hasRemaining() || answer.getLong(0) != 42) {
                            errors.incrementAndGet();
                        }
                        channel.close();
                    }
                    case 3 -> {
                        channel.write(ByteBuffer.wrap(new byte[1]));
                        silent.add(channel);
                    }
                    default -> {
                        channel.configureBlocking(false);
                        for (int i = 0; i < 64 && channel.write(flood.clear()) > 0; i++) {
                            // write until the server stops reading it
                        }
                        silent.add(channel);
                    }
                }
                while (silent.size() > 4) {
                    silent.poll().close();
                }
                TimeUnit.MILLISECONDS.sleep(random.nextInt(50)); // churn, not a flood of connects
            } catch (IOException e) {
                errors.incrementAndGet();
            }
        }
        for (SocketChannel channel : silent) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    private static void reset(SocketChannel channel, AdderAddress address) throws IOException {
        if (!address.isUnix()) {
            channel.setOption(StandardSocketOptions.SO_LINGER, 0);
        }
        channel.close();
    }
}
