package dev.adder.bench;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Connection churn: T threads, each connecting, asking one request, checking
 * its answer, and closing, again and again, for S seconds after a warm-up.
 * What it stresses is the server's accepting and closing, not its serving.
 *
 * <pre>churn --connect ADDR [--threads T] [--seconds S] [--warmup S] [--server-pid PID]</pre>
 *
 * Prints {@code conns=N conns_per_s=R errors=E}, and with {@code --server-pid}
 * the server's CPU over the measured window, per connection.
 */
final class Churn {

    private Churn() {
    }

    static int main(String[] args) throws Exception {
        AdderAddress address = null;
        int threads = 4;
        int seconds = 5;
        int warmup = 2;
        long serverPid = 0;
        for (int i = 0; i < args.length; i += 2) {
            String option = args[i];
            if (i + 1 >= args.length) {
                System.err.println("churn: " + option + " needs a value");
                return 2;
            }
            String value = args[i + 1];
            switch (option) {
                case "--connect" -> address = AdderAddress.parse(value);
                case "--threads" -> threads = Integer.parseInt(value);
                case "--seconds" -> seconds = Integer.parseInt(value);
                case "--warmup" -> warmup = Integer.parseInt(value);
                case "--server-pid" -> serverPid = Long.parseLong(value);
                default -> {
                    System.err.println("usage: churn --connect ADDR [--threads T] [--seconds S] [--warmup S] [--server-pid PID]");
                    return 2;
                }
            }
        }
        if (address == null) {
            System.err.println("churn: --connect ADDR is required");
            return 2;
        }
        AdderAddress target = address;
        AtomicBoolean stop = new AtomicBoolean();
        AtomicBoolean measuring = new AtomicBoolean();
        AtomicLong connections = new AtomicLong();
        AtomicLong errors = new AtomicLong();
        AtomicReference<String> firstError = new AtomicReference<>();
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            long seed = t;
            Thread worker = new Thread(() -> {
                ByteBuffer request = ByteBuffer.allocate(Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
                ByteBuffer answer = ByteBuffer.allocate(Protocol.RESPONSE_BYTES).order(Protocol.BYTE_ORDER);
                long x = seed;
                while (!stop.get()) {
                    x++;
                    try (SocketChannel channel = target.isUnix() ? SocketChannel.open(StandardProtocolFamily.UNIX)
                            : SocketChannel.open()) {
                        channel.connect(target.toSocketAddress());
                        request.clear();
                        Protocol.encodeRequest(request, x, -1);
                        request.flip();
                        while (request.hasRemaining()) {
                            channel.write(request);
                        }
                        answer.clear();
                        while (answer.hasRemaining()) {
                            if (channel.read(answer) < 0) {
                                throw new EOFException("closed before the answer");
                            }
                        }
                        answer.flip();
                        if (Protocol.decodeResponse(answer) != x - 1) {
                            throw new IOException("wrong answer");
                        }
                        if (measuring.get()) {
                            connections.incrementAndGet();
                        }
                    } catch (IOException e) {
                        if (measuring.get()) {
                            errors.incrementAndGet();
                            firstError.compareAndSet(null, e.toString());
                        }
                    }
                }
            }, "churn-" + t);
            worker.start();
            workers.add(worker);
        }
        TimeUnit.SECONDS.sleep(warmup);
        long cpuBefore = serverPid > 0 ? Load.cpuTicks(serverPid) : 0;
        long start = System.nanoTime();
        measuring.set(true);
        TimeUnit.SECONDS.sleep(seconds);
        measuring.set(false);
        double window = (System.nanoTime() - start) / 1e9;
        long cpuAfter = serverPid > 0 ? Load.cpuTicks(serverPid) : 0;
        stop.set(true);
        for (Thread worker : workers) {
            worker.join();
        }
        long n = connections.get();
        String cpu = "";
        if (serverPid > 0) {
            double cpuSeconds = (cpuAfter - cpuBefore) / (double) Load.CLOCK_TICKS_PER_SECOND;
            cpu = String.format(" server_cpu_pct=%.1f server_cpu_us_per_conn=%.2f", 100 * cpuSeconds / window,
                    n == 0 ? 0 : cpuSeconds * 1e6 / n);
        }
        System.out.printf("conns=%d conns_per_s=%.0f errors=%d%s%n", n, n / window, errors.get(), cpu);
        if (errors.get() > 0) {
            System.err.println("churn: " + errors.get() + " errors; the first: " + firstError.get());
            return 1;
        }
        return 0;
    }
}
