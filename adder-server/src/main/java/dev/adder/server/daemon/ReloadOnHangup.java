package dev.adder.server.daemon;

import dev.adder.server.AdderServer;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.invoke.LambdaMetafactory;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import org.slf4j.LoggerFactory;

/**
 * SIGHUP reads the TLS files again ({@link AdderServer#reloadTls()}): the
 * daemon's way to take renewed certificates without a restart. The handler
 * is installed by {@code main} right after the stop hook, before options are
 * read or a listener opens, so that a SIGHUP never stops the daemon (the
 * JVM's default), not even one a service manager sends while the daemon
 * starts: {@link Main} decides what a SIGHUP means at that moment. The JDK's
 * one way to handle a signal is {@code sun.misc.Signal} (module
 * jdk.unsupported), reached through method handles since javac warns of
 * every direct use (and the build fails on warnings); the handler is made by
 * the lambda factory, not as a {@code java.lang.reflect.Proxy}, whose first
 * use cost the start some 35 ms. Where the class is missing, the daemon says
 * so once and runs without it. Nothing here logs at install: logging is set
 * up after it.
 */
final class ReloadOnHangup {

    private ReloadOnHangup() {
    }

    /** From now on SIGHUP runs {@code onHangup} (on the JVM's signal thread). */
    static void install(Runnable onHangup, PrintStream err) {
        try {
            Class<?> signalClass = Class.forName("sun.misc.Signal");
            Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            MethodType handle = MethodType.methodType(void.class, signalClass);
            MethodHandle run = lookup.findStatic(ReloadOnHangup.class, "handle",
                    MethodType.methodType(void.class, Runnable.class, Object.class));
            // a SignalHandler whose handle(Signal) calls handle(onHangup, signal)
            Object handler = LambdaMetafactory.metafactory(lookup, "handle", MethodType.methodType(handlerClass, Runnable.class),
                    handle, run, handle).getTarget().invoke(onHangup);
            lookup.findStatic(signalClass, "handle", MethodType.methodType(handlerClass, signalClass, handlerClass))
                    .invoke(signalClass.getConstructor(String.class).newInstance("HUP"), handler);
        } catch (Throwable e) { // missing, or refused: ReflectiveOperationException, LinkageError, IllegalArgumentException
            err.println("adder-server: SIGHUP cannot reload the TLS files here (" + e + "); a restart takes new ones");
        }
    }

    private static void handle(Runnable onHangup, Object signal) {
        onHangup.run();
    }

    static void reload(AdderServer server) {
        try {
            server.reloadTls();
        } catch (IOException e) {
            LoggerFactory.getLogger(ReloadOnHangup.class).error("TLS reload failed, the certificates in use stay: {}", e.getMessage());
        } catch (IllegalStateException e) {
            LoggerFactory.getLogger(ReloadOnHangup.class).warn("TLS reload skipped: {}", e.getMessage());
        }
    }
}
