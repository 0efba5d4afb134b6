package dev.adder.micrometer;

import dev.adder.client.AdderClient;
import dev.adder.client.AdderException;
import dev.adder.client.CallObserver;
import dev.adder.client.FailureKind;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * An {@link AdderClient}'s calls as Micrometer meters. It is the client's
 * {@link CallObserver}, so it is given the client's builder to connect
 * ({@link #connect}); the meters are registered once both the client and a
 * registry ({@link #bindTo}) are known, in either order.
 *
 * <table>
 * <caption>The meters</caption>
 * <tr><th>name</th><th>type</th><th>what</th></tr>
 * <tr><td>{@code adder.client.calls}</td><td>timer, tag {@code outcome} ({@code success} or
 *     {@code failure})</td><td>every call ({@code add}, {@code addExact}, {@code addAsync}; a whole
 *     {@code addAll} batch as one): how many, and how long each took</td></tr>
 * <tr><td>{@code adder.client.failures}</td><td>counter, tag {@code kind}: {@code timeout}, {@code connect},
 *     {@code lost}, {@code protocol}, {@code closed}, {@code interrupted}, {@code other}
 *     ({@link FailureKind})</td><td>calls that failed, by kind</td></tr>
 * <tr><td>{@code adder.client.replays}</td><td>function counter</td><td>calls sent again on a new connection
 *     after theirs was lost</td></tr>
 * <tr><td>{@code adder.client.calls.in.flight}</td><td>gauge</td><td>single calls holding room now: queued,
 *     or sent and not yet answered</td></tr>
 * </table>
 *
 * <p>Every meter carries the tag {@code address}, the client's server, and the
 * tags given to the constructor. One instance serves one client.
 */
public final class AdderClientMetrics implements MeterBinder, CallObserver {

    private static final FailureKind[] KINDS = FailureKind.values();

    private final Iterable<Tag> tags;
    private final List<MeterRegistry> registries = new ArrayList<>();
    private AdderClient client;
    /** The meters of each registry bound, once the client is known; replaced whole, read per call. */
    private volatile Meters[] meters = new Meters[0];

    /** Meters tagged with the client's address. */
    public AdderClientMetrics() {
        this(Tags.empty());
    }

    /**
     * Meters tagged with the client's address and {@code tags}.
     *
     * @param tags more tags for every meter (a name, say, for several clients of one server)
     */
    public AdderClientMetrics(Iterable<Tag> tags) {
        this.tags = Objects.requireNonNull(tags, "tags");
    }

    /**
     * Connects the client {@code builder} describes, with these metrics as its call observer.
     *
     * @param builder the client's settings
     * @return the client, connected
     * @throws IllegalStateException if these metrics already serve a client
     * @throws dev.adder.client.AdderException if the server cannot be reached (as {@link AdderClient.Builder#connect()})
     */
    public AdderClient connect(AdderClient.Builder builder) {
        synchronized (registries) {
            if (client != null) {
                throw new IllegalStateException("these metrics already serve " + client);
            }
            AdderClient connected = builder.callObserver(this).connect();
            client = connected;
            registries.forEach(this::register);
            return connected;
        }
    }

    /**
     * Registers the meters in {@code registry}, now if the client is connected, else once it is.
     *
     * @param registry where the meters go
     */
    @Override
    public void bindTo(MeterRegistry registry) {
        synchronized (registries) {
            registries.add(registry);
            if (client != null) {
                register(registry);
            }
        }
    }

    /** Under the lock, with the client known. */
    private void register(MeterRegistry registry) {
        Tags all = Tags.of(tags).and("address", client.address().toString());
        Timer succeeded = calls(registry, all, "success");
        Timer failed = calls(registry, all, "failure");
        Counter[] failures = new Counter[KINDS.length];
        for (FailureKind kind : KINDS) {
            failures[kind.ordinal()] = Counter.builder("adder.client.failures")
                    .description("Calls that failed, by kind").tags(all)
                    .tag("kind", kind.name().toLowerCase(Locale.ROOT)).register(registry);
        }
        FunctionCounter.builder("adder.client.replays", client, AdderClient::replayedCalls)
                .description("Calls sent again on a new connection after theirs was lost").tags(all).register(registry);
        Gauge.builder("adder.client.calls.in.flight", client, c -> c.stats().callsInFlight())
                .description("Single calls holding room now: queued, or sent and not yet answered").tags(all)
                .register(registry);
        Meters[] more = Arrays.copyOf(meters, meters.length + 1);
        more[meters.length] = new Meters(succeeded, failed, failures);
        meters = more;
    }

    private static Timer calls(MeterRegistry registry, Tags all, String outcome) {
        return Timer.builder("adder.client.calls").description("Calls, and how long each took to its answer or failure")
                .tags(all).tag("outcome", outcome).register(registry);
    }

    /**
     * Records a call's end; the client calls it.
     *
     * @param nanos how long the call took
     * @param failure what it failed with, or null
     */
    @Override
    public void callEnded(long nanos, AdderException failure) {
        for (Meters m : meters) {
            if (failure == null) {
                m.succeeded.record(nanos, TimeUnit.NANOSECONDS);
            } else {
                m.failed.record(nanos, TimeUnit.NANOSECONDS);
                m.failures[failure.kind().ordinal()].increment();
            }
        }
    }

    private record Meters(Timer succeeded, Timer failed, Counter[] failures) {
    }
}
