package dev.adder.client;

import dev.adder.core.AdderAddress;
import dev.adder.core.HumanDuration;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import javax.net.ssl.SSLContext;

/**
 * The body of {@link AdderClient.Builder}, whose public methods these are:
 * every setting of a client, its default and its range, checked as it is
 * set. Package-private, so that the public API is that one class; each
 * setter returns it.
 */
abstract class ClientBuilder {
    final AdderAddress address;
    Duration connectTimeout = AdderClient.DEFAULT_CONNECT_TIMEOUT;
    Duration callTimeout = AdderClient.DEFAULT_CALL_TIMEOUT;
    int maxInFlight = AdderClient.DEFAULT_MAX_IN_FLIGHT;
    Executor completions = ForkJoinPool.commonPool();
    boolean replay = true;
    Duration busyPoll = AdderClient.DEFAULT_BUSY_POLL;
    ClientTls tls;
    CallObserver observer;

    ClientBuilder(AdderAddress address) {
        this.address = address;
        address.toSocketAddress(); // fails here, not at the first call, for an address no socket can have
    }

    /**
     * Longest wait to connect (default 5 s; from 1 ms to 24 h).
     *
     * @param timeout from 1 ms to 24 h
     * @return this builder
     */
    public AdderClient.Builder connectTimeout(Duration timeout) {
        this.connectTimeout = timeout("connectTimeout", timeout);
        return self();
    }

    /**
     * Longest wait for an answer; for a batch, for any progress (default 30 s; from 1 ms to 24 h).
     *
     * @param timeout from 1 ms to 24 h
     * @return this builder
     */
    public AdderClient.Builder callTimeout(Duration timeout) {
        this.callTimeout = timeout("callTimeout", timeout);
        return self();
    }

    /**
     * Most calls in flight on the connection at once (default 4,096; from 1
     * to 1,048,576). A call beyond it waits, within its deadline, for an
     * answer to free a slot, so a server that stops reading cannot make the
     * client hold more than this many calls.
     *
     * @param calls from 1 to 1,048,576
     * @return this builder
     */
    public AdderClient.Builder maxInFlight(int calls) {
        if (calls < 1 || calls > 1 << 20) {
            throw new IllegalArgumentException("maxInFlight must be from 1 to 1048576, not " + calls);
        }
        this.maxInFlight = calls;
        return self();
    }

    /**
     * Where the futures of {@link AdderClient#addAsync} are completed, and
     * so where their dependent stages run unless given an executor of their
     * own (default {@link ForkJoinPool#commonPool()}). A direct executor
     * ({@code Runnable::run}) runs them on the client's driving thread:
     * they must then be quick and never wait for this client.
     *
     * @param executor the executor
     * @return this builder
     */
    public AdderClient.Builder completionExecutor(Executor executor) {
        this.completions = Objects.requireNonNull(executor, "executor");
        return self();
    }

    /**
     * Whether a call whose connection is lost is sent again on a new one
     * (default on). Addition has no side effects, and a call's answer comes
     * on the connection its request went out on, so a replayed call still
     * gets exactly one answer, its own. With replay on, calls in flight on a
     * connection that is reset, ends or fails to write are sent again (at
     * once, then after pauses from 1 ms doubling to 100 ms if that one is
     * lost too), and a connect that is refused or finds no socket file is
     * tried again, after pauses from 0.1 ms doubling to 100 ms, for up to the
     * connect timeout (a server restarting in place); nothing goes past a
     * call's deadline. A timeout, an interrupt, {@link AdderClient#close()}
     * or a server that breaks the protocol is never replayed, nor is the
     * connect of {@link #connect()}: a server not running fails there at
     * once. The cost: a server gone for good is reported after the connect
     * timeout. With replay off, every call on a lost connection fails.
     *
     * @param on whether to replay
     * @return this builder
     */
    public AdderClient.Builder replay(boolean on) {
        this.replay = on;
        return self();
    }

    /**
     * How long a caller on a platform thread that waits for its answer
     * polls the socket without sleeping (default 25 µs; from zero to 1 ms).
     * An answer that comes within it saves the thread's sleep and wake-up,
     * which on a server nearby cost as much as the round trip itself. The
     * client learns from its recent waits whether polling pays, as the
     * server's loop does ({@code busyPoll} there, with a policy of its own):
     * it stops after three
     * polls in a row that find nothing (a server further away) and tries
     * again at most once in 1,024 waits, so it then costs almost nothing.
     * {@code Duration.ZERO} never polls.
     *
     * @param window from zero to 1 ms
     * @return this builder
     */
    public AdderClient.Builder busyPoll(Duration window) {
        Objects.requireNonNull(window, "busyPoll");
        if (window.isNegative() || window.compareTo(Duration.ofMillis(1)) > 0) {
            throw new IllegalArgumentException("busyPoll must be from 0 to 1ms, not " + HumanDuration.describe(window));
        }
        this.busyPoll = window;
        return self();
    }

    /**
     * For a {@code tls:} address: trusts the CAs of this PEM file rather than the JDK's. The
     * server's certificate must still name the address's host. Read now.
     *
     * @param caCertificates one or more PEM CA certificates
     * @return this builder
     * @throws IOException naming the file and what is wrong with it, in one line
     */
    public AdderClient.Builder tlsCa(Path caCertificates) throws IOException {
        Objects.requireNonNull(caCertificates, "caCertificates");
        this.tls = ClientTls.fromFiles(caCertificates, tls == null ? null : tls.chain, tls == null ? null : tls.key);
        return self();
    }

    /**
     * For a {@code tls:} address: presents this PEM certificate chain with this PEM PKCS#8 key,
     * for a server that admits only clients with certificates (mutual TLS). Read now.
     *
     * @param chain the client's certificate, then its intermediates
     * @param key its private key, unencrypted PKCS#8
     * @return this builder
     * @throws IOException naming the file and what is wrong with it, in one line
     */
    public AdderClient.Builder tlsCertificate(Path chain, Path key) throws IOException {
        Objects.requireNonNull(chain, "chain");
        Objects.requireNonNull(key, "key");
        this.tls = ClientTls.fromFiles(tls == null ? null : tls.ca, chain, key);
        return self();
    }

    /**
     * For a {@code tls:} address: uses this context (its trust, its keys) rather than files or
     * the JDK's default. The server's certificate must still name the address's host.
     *
     * @param context an initialized context
     * @return this builder
     */
    public AdderClient.Builder tls(SSLContext context) {
        this.tls = ClientTls.of(Objects.requireNonNull(context, "context"));
        return self();
    }

    /**
     * Tells {@code observer} of the end of every call, with its latency and its failure if it
     * failed (default none: then calls read no clock and allocate nothing for it).
     *
     * @param observer quick and thread-safe; see {@link CallObserver}
     * @return this builder
     */
    public AdderClient.Builder callObserver(CallObserver observer) {
        this.observer = Objects.requireNonNull(observer, "observer");
        return self();
    }

    /**
     * Connects now, so that a wrong address fails here rather than at the first call.
     *
     * @throws AdderException if the server cannot be reached
     * @return a client, connected
     */
    public AdderClient connect() {
        if (tls != null && !address.isTls()) {
            throw new IllegalStateException("TLS settings are for a tls: address, not " + address);
        }
        return AdderClient.open(this);
    }

    private static Duration timeout(String name, Duration duration) {
        Objects.requireNonNull(duration, name);
        if (duration.compareTo(AdderClient.MIN_TIMEOUT) < 0 || duration.compareTo(AdderClient.MAX_TIMEOUT) > 0) {
            throw new IllegalArgumentException(name + " must be from 1ms to 24h, not " + HumanDuration.describe(duration));
        }
        return duration;
    }

    abstract AdderClient.Builder self();
}
