package dev.adder.bench;

import dev.adder.core.AdderAddress;
import dev.adder.core.Protocol;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.HdrHistogram.Histogram;

/**
 * The load generator: N connections, each keeping D requests in flight for S
 * seconds, every answer checked, latency from a request's send to its answer.
 *
 * <pre>
 * load --connect ADDR [--conns N] [--depth D] [--seconds S] [--warmup S] [--threads T]
 *      [--rate R] [--server-pid PID] [--split-writes --requests N]
 * </pre>
 *
 * Prints one line, {@code ops=... ops_per_s=... p50_us=... p99_us=... p999_us=... errors=... total=...}
 * ({@code ops}: answers in the measured window; {@code total}: all, warm-up included), and exits 1 on any wrong answer or any connection the server closed.
 *
 * <p>{@code --rate R} paces the load instead of saturating it: R requests per
 * second in all, spread evenly over the connections, each sent at its
 * scheduled time whatever happened to the ones before it (up to D in flight
 * per connection, default 1024; past that, requests wait and are sent late).
 * Latency is then measured from each request's scheduled time, not from when
 * it was sent, so a stalled server is charged for every request it delayed
 * (coordinated omission corrected). The threads wait for the next scheduled
 * send by polling, so the load generator keeps its own core busy.
 *
 * <p>{@code --server-pid PID} adds the server's CPU time over the measured
 * window, read from {@code /proc/PID/stat}: {@code server_cpu_pct} (of one
 * core) and {@code server_cpu_us_per_req}.
 *
 * <p>{@code --split-writes} is the teaching client's pattern: each request as
 * two 8-byte writes with Nagle's algorithm on, one at a time; with
 * {@code --requests N} it stops after N answers and prints how long they took.
 */
final class Load {

    private static final int READ_BUFFER_BYTES = 64 * 1024;

    private AdderAddress address;
    private int conns = 1;
    private int depth = 1;
    private double seconds = 5;
    private double warmup = 1;
    private int threads = 1;
    private boolean splitWrites;
    private long requestLimit;
    /** Requests per second in all, or 0: as fast as the server answers. */
    private double rate;
    private long serverPid;
    private boolean depthGiven;

    private Load() {
    }

    static int main(String[] args) throws Exception {
        Load load = new Load();
        try {
            load.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("load: " + e.getMessage());
            System.err.println("usage: load --connect ADDR [--conns N] [--depth D] [--seconds S] [--warmup S]"
                    + " [--threads T] [--rate R] [--server-pid PID] [--split-writes] [--requests N]");
            return 2;
        }
        return load.run();
    }

    private void parse(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String option = args[i];
            if (option.equals("--split-writes")) {
                splitWrites = true;
                continue;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(option + " needs a value");
            }
            String value = args[++i];
            switch (option) {
                case "--connect" -> address = AdderAddress.parse(value);
                case "--conns" -> conns = positive(option, value);
                case "--depth" -> {
                    depth = positive(option, value);
                    depthGiven = true;
                }
                case "--rate" -> {
                    rate = Double.parseDouble(value);
                    if (!(rate > 0)) {
                        throw new IllegalArgumentException("--rate must be more than 0");
                    }
                }
                case "--server-pid" -> serverPid = positive(option, value);
                case "--seconds" -> seconds = Double.parseDouble(value);
                case "--warmup" -> warmup = Double.parseDouble(value);
                case "--threads" -> threads = positive(option, value);
                case "--requests" -> requestLimit = positive(option, value);
                default -> throw new IllegalArgumentException("unknown option " + option);
            }
        }
        if (address == null) {
            throw new IllegalArgumentException("--connect is required");
        }
        if (splitWrites) {
            depth = 1;
        }
        if (rate > 0 && splitWrites) {
            throw new IllegalArgumentException("--rate and --split-writes do not go together");
        }
        if (rate > 0 && !depthGiven) {
            depth = 1024;
        }
        threads = Math.min(threads, conns);
    }

    private static int positive(String option, String value) {
        int n = Integer.parseInt(value);
        if (n < 1) {
            throw new IllegalArgumentException(option + " must be at least 1");
        }
        return n;
    }

    /** One connection's state: D requests in flight, answers checked in order. */
    private final class Conn {
        final SocketChannel channel;
        final long y;
        final ByteBuffer out = ByteBuffer.allocateDirect(depth * Protocol.REQUEST_BYTES).order(Protocol.BYTE_ORDER);
        final ByteBuffer in = ByteBuffer.allocateDirect(READ_BUFFER_BYTES).order(Protocol.BYTE_ORDER);
        /** When each request in flight was sent or, paced, scheduled. */
        final long[] sentAt = new long[depth];
        /** Paced: when the next request is due. */
        long nextDue;
        long sent;
        long received;
        SelectionKey key;
        boolean closed;

        Conn(SocketChannel channel, long y) {
            this.channel = channel;
            this.y = y;
            out.flip();
        }

        boolean inFlightFull() {
            return sent - received >= depth;
        }
    }

    /** One thread's share of the connections and its own figures. */
    private final class Worker implements Runnable {
        final List<Conn> mine = new ArrayList<>();
        final Histogram latency = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        long measuredOps;
        long errors;
        long totalAnswers;
        String firstError;
        long warmupEnd;
        long end;
        boolean stopped;

        @Override
        public void run() {
            try (Selector selector = Selector.open()) {
                for (Conn conn : mine) {
                    conn.key = conn.channel.register(selector, SelectionKey.OP_READ, conn);
                }
                long now = System.nanoTime();
                for (Conn conn : mine) {
                    if (rate > 0) {
                        sendDue(conn, now);
                    } else {
                        refill(conn, now);
                    }
                }
                while (true) {
                    now = System.nanoTime();
                    if (rate > 0 && !stopped) {
                        waitPaced(selector, now);
                        continue;
                    }
                    if (!stopped && now - end >= 0) {
                        stopped = true;
                    }
                    if (stopped && allAnsweredOrClosed()) {
                        break;
                    }
                    if (stopped && now - end > TimeUnit.SECONDS.toNanos(5)) {
                        error("answers still missing 5 s after the end");
                        break;
                    }
                    selector.select(this::ready, 100);
                }
            } catch (IOException e) {
                error("selector failed: " + e);
            } finally {
                for (Conn conn : mine) {
                    try {
                        conn.channel.close();
                    } catch (IOException ignored) {
                        // closing anyway
                    }
                }
            }
        }

        /**
         * Paced: sends what is due, then waits for answers until the next
         * send is due, blocking when that is far off and polling when near.
         */
        private void waitPaced(Selector selector, long now) throws IOException {
            if (now - end >= 0) {
                stopped = true;
                return;
            }
            long next = end;
            for (Conn conn : mine) {
                if (conn.nextDue - now <= 0 && !conn.inFlightFull()) {
                    sendDue(conn, now);
                }
                if (!conn.closed && !conn.inFlightFull() && conn.nextDue - next < 0) {
                    next = conn.nextDue;
                }
            }
            long waitMillis = TimeUnit.NANOSECONDS.toMillis(next - now) - 1;
            if (waitMillis >= 1) {
                selector.select(this::ready, waitMillis);
            } else {
                selector.selectNow(this::ready);
            }
        }

        /** Paced: sends every request whose time has come, each stamped with that time. */
        private void sendDue(Conn conn, long now) throws IOException {
            if (conn.out.hasRemaining() || conn.closed) {
                return;
            }
            ByteBuffer out = conn.out.clear();
            while (conn.nextDue - now <= 0 && !conn.inFlightFull() && out.remaining() >= Protocol.REQUEST_BYTES) {
                conn.sentAt[(int) (conn.sent % depth)] = conn.nextDue;
                Protocol.encodeRequest(out, conn.sent, conn.y);
                conn.sent++;
                conn.nextDue += interval;
            }
            out.flip();
            conn.channel.write(out);
            if (out.hasRemaining()) {
                conn.key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
            }
        }

        private boolean allAnsweredOrClosed() {
            for (Conn conn : mine) {
                if (!conn.closed && conn.received < conn.sent) {
                    return false;
                }
            }
            return true;
        }

        private void ready(SelectionKey key) {
            Conn conn = (Conn) key.attachment();
            try {
                if (key.isWritable()) {
                    conn.channel.write(conn.out);
                    if (!conn.out.hasRemaining()) {
                        key.interestOps(SelectionKey.OP_READ);
                    }
                }
                if (key.isValid() && key.isReadable()) {
                    read(conn);
                }
            } catch (IOException e) {
                error("connection failed: " + e);
                close(conn);
            }
        }

        private void read(Conn conn) throws IOException {
            int n = conn.channel.read(conn.in);
            if (n < 0) {
                error("server closed a connection");
                close(conn);
                return;
            }
            if (n == 0) {
                return;
            }
            long now = System.nanoTime();
            boolean measuring = now - warmupEnd >= 0 && now - end < 0;
            ByteBuffer in = conn.in.flip();
            while (in.remaining() >= Protocol.RESPONSE_BYTES) {
                long answer = Protocol.decodeResponse(in);
                long seq = conn.received++;
                if (answer != seq + conn.y) {
                    error("wrong answer: " + seq + " + " + conn.y + " gave " + answer);
                }
                if (measuring) {
                    latency.recordValue(now - conn.sentAt[(int) (seq % depth)]);
                    measuredOps++;
                }
                totalAnswers++;
            }
            in.compact();
            if (!stopped && rate == 0) {
                refill(conn, now);
            }
        }

        /** Sends requests until D are in flight (one at a time, in two writes, with --split-writes). */
        private void refill(Conn conn, long now) throws IOException {
            if (conn.out.hasRemaining() || conn.closed) {
                return;
            }
            if (requestLimit > 0 && totalAnswers >= requestLimit) {
                stopped = true;
                end = now;
                return;
            }
            ByteBuffer out = conn.out.clear();
            while (conn.sent - conn.received < depth) {
                conn.sentAt[(int) (conn.sent % depth)] = now;
                Protocol.encodeRequest(out, conn.sent, conn.y);
                conn.sent++;
            }
            out.flip();
            if (splitWrites) {
                ByteBuffer half = out.duplicate().order(Protocol.BYTE_ORDER);
                half.limit(half.position() + 8);
                conn.channel.write(half);
                out.position(half.position());
            }
            conn.channel.write(out);
            if (out.hasRemaining()) {
                conn.key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
            }
        }

        private void close(Conn conn) {
            conn.closed = true;
            conn.key.cancel();
            try {
                conn.channel.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }

        private void error(String message) {
            if (errors++ == 0) {
                firstError = message;
            }
        }
    }

    /** Paced: the time between two requests on one connection. */
    private long interval;

    private int run() throws Exception {
        List<Worker> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            workers.add(new Worker());
        }
        for (int c = 0; c < conns; c++) {
            SocketChannel channel = address.isUnix()
                    ? SocketChannel.open(StandardProtocolFamily.UNIX)
                    : SocketChannel.open();
            channel.connect(address.toSocketAddress());
            if (!address.isUnix()) {
                channel.setOption(StandardSocketOptions.TCP_NODELAY, !splitWrites);
            }
            channel.configureBlocking(false);
            workers.get(c % threads).mine.add(new Conn(channel, 1_000_003L * c + 7));
        }
        long start = System.nanoTime();
        long warmupEnd = requestLimit > 0 ? start : start + (long) (warmup * 1e9);
        long end = requestLimit > 0 ? Long.MAX_VALUE / 2 + start : warmupEnd + (long) (seconds * 1e9);
        if (rate > 0) {
            // connection c's requests are due at start + (c + k * conns) / rate seconds: R per second in all, evenly
            interval = Math.round(1e9 * conns / rate);
            for (int t = 0; t < threads; t++) {
                List<Conn> mine = workers.get(t).mine;
                for (int i = 0; i < mine.size(); i++) {
                    mine.get(i).nextDue = start + Math.round(1e9 * (i * threads + t) / rate);
                }
            }
        }
        List<Thread> running = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Worker worker = workers.get(t);
            worker.warmupEnd = warmupEnd;
            worker.end = end;
            Thread thread = new Thread(worker, "load-" + t);
            thread.start();
            running.add(thread);
        }
        String serverCpu = "";
        if (serverPid > 0) {
            sleepUntil(warmupEnd);
            long before = cpuTicks(serverPid);
            sleepUntil(end);
            long ticks = cpuTicks(serverPid) - before;
            serverCpu = String.valueOf(ticks);
        }
        for (Thread thread : running) {
            thread.join();
        }
        Histogram latency = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        long ops = 0;
        long total = 0;
        long errors = 0;
        String firstError = null;
        long measuredEnd = end;
        for (Worker worker : workers) {
            latency.add(worker.latency);
            ops += worker.measuredOps;
            total += worker.totalAnswers;
            errors += worker.errors;
            if (firstError == null) {
                firstError = worker.firstError;
            }
            if (requestLimit > 0) {
                measuredEnd = Math.min(measuredEnd, worker.end);
            }
        }
        double window = (measuredEnd - warmupEnd) / 1e9;
        if (!serverCpu.isEmpty()) {
            double cpuSeconds = Long.parseLong(serverCpu) / (double) CLOCK_TICKS_PER_SECOND;
            serverCpu = String.format(" server_cpu_pct=%.1f server_cpu_us_per_req=%.2f",
                    100 * cpuSeconds / window, ops == 0 ? 0 : cpuSeconds * 1e6 / ops);
        }
        System.out.printf("ops=%d ops_per_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f errors=%d total=%d%s%s%n",
                ops, ops / window, latency.getValueAtPercentile(50) / 1e3, latency.getValueAtPercentile(99) / 1e3,
                latency.getValueAtPercentile(99.9) / 1e3, errors, total,
                requestLimit > 0 ? String.format(" seconds=%.3f", window) : "", serverCpu);
        if (errors > 0) {
            System.err.println("load: " + errors + " errors; the first: " + firstError);
            return 1;
        }
        return 0;
    }

    /** The kernel's clock tick for /proc times: 100 on every Linux this runs on (getconf CLK_TCK). */
    static final int CLOCK_TICKS_PER_SECOND = 100;

    /** utime + stime of a process, in clock ticks. */
    static long cpuTicks(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        // the fields after the command name, which is in parentheses and may hold spaces
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
    }

    private static void sleepUntil(long deadline) throws InterruptedException {
        long left;
        while ((left = deadline - System.nanoTime()) > 0) {
            TimeUnit.NANOSECONDS.sleep(left);
        }
    }
}
