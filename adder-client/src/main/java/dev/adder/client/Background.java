package dev.adder.client;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * The client's one thread, {@code adder-client-reader}, started the first
 * time the role is handed to it: it drives for asynchronous calls, for
 * callers on virtual threads (which never wait in a selector) and for
 * callers waiting for room, whenever no caller that may drive is waiting.
 * Otherwise it is parked. It ends at close().
 */
final class Background {

    private final String name;
    private final AtomicBoolean handed = new AtomicBoolean();
    private Driver driver;
    private Thread thread;
    private volatile boolean stopped;

    Background(String name) {
        this.name = name;
    }

    void driveWith(Driver driver) {
        this.driver = driver;
    }

    /** The role is this thread's now (called under the line's lock). */
    synchronized void hand() {
        handed.set(true);
        if (thread == null && !stopped) {
            thread = new Thread(this::run, name);
            thread.setDaemon(true);
            thread.start();
        }
        LockSupport.unpark(thread); // none if stopped before it started
    }

    private void run() {
        while (true) {
            if (handed.getAndSet(false)) {
                try {
                    driver.drive(null); // after close too: the holder closes the connection
                } catch (RuntimeException | Error e) { // the calls it was driving for have failed; others go on
                    Thread.currentThread().getUncaughtExceptionHandler().uncaughtException(Thread.currentThread(), e);
                }
            } else if (stopped) {
                return;
            } else {
                LockSupport.park(this);
            }
        }
    }

    /** Stops the thread and waits for it (not when called from it: a completion on a direct executor). */
    void stop() {
        Thread current;
        synchronized (this) {
            stopped = true;
            current = thread;
        }
        if (current != null && current != Thread.currentThread()) {
            LockSupport.unpark(current);
            try {
                current.join(TimeUnit.SECONDS.toMillis(10));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
