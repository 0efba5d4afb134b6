package dev.adder.server.daemon;

import dev.adder.server.AdderServer;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SIGHUP reads the TLS files again ({@link AdderServer#reloadTls()}): the
 * daemon's way to take renewed certificates without a restart. The handler
 * is installed by {@code main} right after the stop hook, before options are
 * read or a listener opens, so that a SIGHUP never stops the daemon (the
 * JVM's default), not even one a service manager sends while the daemon
 * starts: {@link Main} decides what a SIGHUP means at that moment. The JDK's
 * one way to handle a signal is {@code sun.misc.Signal} (module
 * jdk.unsupported), reached by reflection since javac warns of every direct
 * use (and the build fails on warnings); where it is missing, the daemon says
 * so once and runs without it.
 */
final class ReloadOnHangup {

    private static final Logger log = LoggerFactory.getLogger(ReloadOnHangup.class);

    private ReloadOnHangup() {
    }

    /** From now on SIGHUP runs {@code onHangup} (on the JVM's signal thread). */
    static void install(Runnable onHangup, PrintStream err) {
        try {
            Class<?> signalClass = Class.forName("sun.misc.Signal");
            Class<?> handlerClass = Class.forName("sun.misc.SignalHandler");
            Object handler = Proxy.newProxyInstance(ReloadOnHangup.class.getClassLoader(), new Class<?>[] {handlerClass},
                    (proxy, method, args) -> {
                        if (method.getName().equals("handle")) {
                            onHangup.run();
                            return null;
                        }
                        return switch (method.getName()) { // Object's methods, should anything call them
                            case "hashCode" -> System.identityHashCode(proxy);
                            case "equals" -> proxy == args[0];
                            default -> "reload TLS on SIGHUP";
                        };
                    });
            Method handle = signalClass.getMethod("handle", signalClass, handlerClass);
            handle.invoke(null, signalClass.getConstructor(String.class).newInstance("HUP"), handler);
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            err.println("adder-server: SIGHUP cannot reload the TLS files here (" + e + "); a restart takes new ones");
        }
    }

    static void reload(AdderServer server) {
        try {
            server.reloadTls();
        } catch (IOException e) {
            log.error("TLS reload failed, the certificates in use stay: {}", e.getMessage());
        } catch (IllegalStateException e) {
            log.warn("TLS reload skipped: {}", e.getMessage());
        }
    }
}
