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
 * <pre>churn --connect ADDR [--threads T] [--seconds S] [--warmup S] [--server-pid PID] [--flood F]</pre>
 *
 * Prints {@code conns=N conns_per_s=R errors=E} and the time from connect to
 * answer (p50, p99, max), and with {@code --server-pid} the server's CPU over
 * the measured window, per connection. {@code --flood F} adds F flooders
 * beside the checked workers, connecting and closing at full speed without
 * waiting for anything: half send 48 bytes and reset (SO_LINGER 0), half send
 * one byte and close; their rate is printed apart, and on TCP so are the
 * kernel's counts of connections its full accept queue dropped
 * ({@code ListenOverflows}, {@code ListenDrops} of /proc/net/netstat).
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
        int flooders = 0;
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
                case "--flood" -> flooders = Integer.parseInt(value);
                default -> {
                    System.err.println("usage: churn --connect ADDR [--threads T] [--seconds S] [--warmup S] [--server-pid PID]"
                            + " [--flood F]");
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
        Latencies latencies = new Latencies();
        AtomicLong flooded = new AtomicLong();
        List<Thread> workers = new ArrayList<>();
        for (int f = 0; f < flooders; f++) {
            boolean reset = f % 2 == 0;
            Thread flooder = new Thread(() -> flood(target, reset, stop, measuring, flooded), "flood-" + f);
            flooder.start();
            workers.add(flooder);
        }
        for (int t = 0; t < threads; t++) {
            long seed = t;
            Thread worker = new Thread(() -> {
                ByteBuffer request = ByteBuffer.allocate(Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
                ByteBuffer answer = ByteBuffer.allocate(Protocol.RESPONSE_BYTES).order(Protocol.BYTE_ORDER);
                long x = seed;
                while (!stop.get()) {
                    x++;
                    long began = System.nanoTime();
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
                            latencies.add(System.nanoTime() - began);
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
        long[] dropsBefore = listenDrops();
        long cpuBefore = serverPid > 0 ? Load.cpuTicks(serverPid) : 0;
        long start = System.nanoTime();
        measuring.set(true);
        TimeUnit.SECONDS.sleep(seconds);
        measuring.set(false);
        double window = (System.nanoTime() - start) / 1e9;
        long cpuAfter = serverPid > 0 ? Load.cpuTicks(serverPid) : 0;
        long[] dropsAfter = listenDrops();
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
        String flood = flooders == 0 ? "" : String.format(" flood_conns_per_s=%.0f", flooded.get() / window);
        if (flooders > 0 && !target.isUnix() && dropsBefore != null && dropsAfter != null) {
            flood += String.format(" listen_overflows_per_s=%.0f listen_drops_per_s=%.0f",
                    (dropsAfter[0] - dropsBefore[0]) / window, (dropsAfter[1] - dropsBefore[1]) / window);
        }
        System.out.printf("conns=%d conns_per_s=%.0f errors=%d %s%s%s%n", n, n / window, errors.get(), latencies.summary(),
                cpu, flood);
        if (errors.get() > 0) {
            System.err.println("churn: " + errors.get() + " errors; the first: " + firstError.get());
            return 1;
        }
        return 0;
    }

    /** Connects and closes at full speed: 48 bytes then a reset, or one byte then a close. Errors are its point. */
    private static void flood(AdderAddress target, boolean reset, AtomicBoolean stop, AtomicBoolean measuring,
            AtomicLong flooded) {
        ByteBuffer bytes = ByteBuffer.allocate(reset ? 48 : 1);
        while (!stop.get()) {
            try (SocketChannel channel = target.isUnix() ? SocketChannel.open(StandardProtocolFamily.UNIX)
                    : SocketChannel.open()) {
                channel.connect(target.toSocketAddress());
                bytes.clear();
                channel.write(bytes);
                if (reset && !target.isUnix()) {
                    channel.setOption(java.net.StandardSocketOptions.SO_LINGER, 0);
                }
            } catch (IOException e) {
                // refused, reset, queue full: a flooder goes on
            }
            if (measuring.get()) {
                flooded.incrementAndGet();
            }
        }
    }

    /** The kernel's ListenOverflows and ListenDrops counts (Linux), or null where they cannot be read. */
    private static long[] listenDrops() {
        try {
            List<String> lines = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/net/netstat"));
            for (int i = 0; i + 1 < lines.size(); i += 2) {
                if (lines.get(i).startsWith("TcpExt:")) {
                    List<String> names = List.of(lines.get(i).trim().split("\\s+"));
                    String[] values = lines.get(i + 1).trim().split("\\s+");
                    return new long[] {Long.parseLong(values[names.indexOf("ListenOverflows")]),
                            Long.parseLong(values[names.indexOf("ListenDrops")])};
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or not readable: the figures are left out
        }
        return null;
    }

    /** Connect-to-answer times of the checked workers, in microseconds, kept whole (a run is seconds long). */
    private static final class Latencies {
        private final List<Long> micros = new ArrayList<>();

        synchronized void add(long nanos) {
            micros.add(nanos / 1000);
        }

        synchronized String summary() {
            if (micros.isEmpty()) {
                return "p50_us=- p99_us=- max_us=-";
            }
            List<Long> sorted = micros.stream().sorted().toList();
            return String.format("p50_us=%d p99_us=%d max_us=%d", sorted.get(sorted.size() / 2),
                    sorted.get((int) Math.min(sorted.size() - 1, Math.round(sorted.size() * 0.99))), sorted.get(sorted.size() - 1));
        }
    }
}
