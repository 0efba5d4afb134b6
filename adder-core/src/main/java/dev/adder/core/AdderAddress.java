package dev.adder.core;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where an adder server listens, or where a client connects: a Unix-domain
 * socket path, or a TCP host and port, in plain text or under TLS.
 *
 * <p>Textual forms accepted by {@link #parse}:
 * <ul>
 *   <li>{@code unix:PATH}: a Unix-domain socket file, relative or absolute;
 *   <li>{@code tcp:HOST:PORT}: TCP, where HOST is an IPv4 address, a host
 *       name, or an IPv6 address in brackets ({@code tcp:[::1]:7000});
 *   <li>{@code HOST:PORT}: TCP, as above without the prefix;
 *   <li>{@code tls:HOST:PORT}: TLS over TCP, the host and port as for {@code tcp:}.
 * </ul>
 * A TLS address is a TCP address too: {@link #host()} and {@link #port()}
 * answer for it, and {@link #isUnix()} is false.
 * Port 0 asks a server for any free port. Host names are resolved when the
 * address is used, not when it is parsed.
 */
public final class AdderAddress {

    /**
     * Longest Unix socket path, in bytes, that the JDK binds and connects to:
     * the size of {@code sun_path} less two (106 on Linux, 102 on BSD and
     * macOS). The kernel would take one byte more, but the JDK refuses a path
     * that fills {@code sun_path} to its terminating NUL.
     */
    public static final int MAX_UNIX_PATH_BYTES =
            System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux") ? 106 : 102;

    private static final String UNIX_PREFIX = "unix:";
    private static final String TCP_PREFIX = "tcp:";
    private static final String TLS_PREFIX = "tls:";

    private final Path unixPath;
    private final String host;
    private final int port;
    private final boolean tls;

    private AdderAddress(Path unixPath, String host, int port, boolean tls) {
        this.unixPath = unixPath;
        this.host = host;
        this.port = port;
        this.tls = tls;
    }

    /**
     * A Unix-domain socket address.
     *
     * @param path the socket file, relative or absolute
     * @return the address
     */
    public static AdderAddress unix(Path path) {
        Objects.requireNonNull(path, "path");
        String text = path.toString();
        checkUnixPath(UNIX_PREFIX + text, text);
        return new AdderAddress(path, null, -1, false);
    }

    /**
     * A TCP address; {@code port} 0 means any free port, for a server.
     *
     * @param host a host name or an IP address
     * @param port 0 to 65535
     * @return the address
     */
    public static AdderAddress tcp(String host, int port) {
        return hostPort(host, port, false);
    }

    /**
     * A TLS address (TLS over TCP); {@code port} 0 means any free port, for a server.
     *
     * @param host a host name or an IP address; a client verifies the server's certificate against it
     * @param port 0 to 65535
     * @return the address
     */
    public static AdderAddress tls(String host, int port) {
        return hostPort(host, port, true);
    }

    private static AdderAddress hostPort(String host, int port, boolean tls) {
        Objects.requireNonNull(host, "host");
        if (host.isEmpty()) {
            throw new IllegalArgumentException("TCP address has an empty host");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("TCP port " + port + " is out of range 0-65535");
        }
        return new AdderAddress(null, host, port, tls);
    }

    /**
     * The address of a bound or connected socket.
     *
     * @param address a {@link UnixDomainSocketAddress} or an {@link InetSocketAddress}
     * @return the address
     */
    public static AdderAddress of(SocketAddress address) {
        if (address instanceof UnixDomainSocketAddress unixAddress) {
            return unix(unixAddress.getPath());
        }
        if (address instanceof InetSocketAddress inet) {
            String host = inet.isUnresolved() ? inet.getHostString() : inet.getAddress().getHostAddress();
            return tcp(host, inet.getPort());
        }
        throw new IllegalArgumentException("not a Unix-domain or TCP address: " + address);
    }

    /**
     * Parses {@code unix:PATH}, {@code tcp:HOST:PORT}, {@code HOST:PORT} or {@code tls:HOST:PORT}. A
     * value without a prefix that contains a {@code /} or ends in
     * {@code .sock} can only be a socket file (a host name has no {@code /},
     * and {@code HOST:PORT} needs a port), so it is read as {@code unix:} that.
     *
     * @throws IllegalArgumentException naming the input and what is wrong with it
     * @param text the address as written
     * @return the address
     */
    public static AdderAddress parse(String text) {
        Objects.requireNonNull(text, "address");
        boolean tls = text.startsWith(TLS_PREFIX);
        boolean tcp = tls || text.startsWith(TCP_PREFIX);
        boolean bareUnixPath = !tcp && (text.contains("/") || text.endsWith(".sock"));
        if (text.startsWith(UNIX_PREFIX) || bareUnixPath) {
            String path = text.startsWith(UNIX_PREFIX) ? text.substring(UNIX_PREFIX.length()) : text;
            checkUnixPath(text, path);
            return new AdderAddress(Path.of(path), null, -1, false);
        }
        if (!tcp) {
            checkNoUnknownScheme(text);
        }
        String hostPort = tcp ? text.substring(TCP_PREFIX.length()) : text; // both prefixes are 4 characters
        return parseHostPort(text, hostPort, tls);
    }

    /** {@code ssl:host:7000} would read as host "ssl:host", then fail on its colon: name the scheme instead. */
    private static void checkNoUnknownScheme(String text) {
        int colon = text.indexOf(':');
        if (colon > 0 && text.indexOf(':', colon + 1) > 0 && !text.startsWith("[")
                && text.substring(0, colon).chars().allMatch(c -> c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z')) {
            throw invalid(text, "unknown scheme '" + text.substring(0, colon)
                    + ":' (expected unix:PATH, tcp:HOST:PORT, tls:HOST:PORT or HOST:PORT)");
        }
    }

    private static AdderAddress parseHostPort(String text, String hostPort, boolean tls) {
        String host;
        String portText;
        if (hostPort.startsWith("[")) {
            int close = hostPort.indexOf(']');
            if (close < 0) {
                throw invalid(text, "IPv6 address has no closing ']'");
            }
            host = hostPort.substring(1, close);
            if (!host.contains(":")) {
                throw invalid(text, "brackets are only for IPv6 addresses");
            }
            if (close + 1 >= hostPort.length() || hostPort.charAt(close + 1) != ':') {
                throw invalid(text, "expected ':PORT' after ']'");
            }
            portText = hostPort.substring(close + 2);
        } else {
            int colon = hostPort.lastIndexOf(':');
            if (colon < 0) {
                throw invalid(text, "expected unix:PATH, tcp:HOST:PORT, tls:HOST:PORT or HOST:PORT");
            }
            host = hostPort.substring(0, colon);
            portText = hostPort.substring(colon + 1);
            if (host.contains(":")) {
                throw invalid(text, "an IPv6 address needs brackets, as in tcp:[::1]:PORT");
            }
        }
        if (host.isEmpty()) {
            throw invalid(text, "missing host");
        }
        if (host.chars().anyMatch(Character::isWhitespace)) {
            throw invalid(text, "host contains whitespace");
        }
        if (portText.isEmpty()) {
            throw invalid(text, "missing port");
        }
        if (!portText.chars().allMatch(c -> c >= '0' && c <= '9') || portText.length() > 5) {
            throw invalid(text, "port '" + portText + "' is not a number from 0 to 65535");
        }
        int port = Integer.parseInt(portText);
        if (port > 65535) {
            throw invalid(text, "port " + port + " is out of range 0-65535");
        }
        return new AdderAddress(null, host, port, tls);
    }

    private static void checkUnixPath(String text, String path) {
        if (path.isEmpty()) {
            throw invalid(text, "empty Unix socket path");
        }
        if (path.chars().anyMatch(Character::isISOControl)) {
            // a newline or escape in a path would split or garble every log line and message naming it
            throw invalid(text.replaceAll("\\p{Cntrl}", "?"), "Unix socket path contains a control character");
        }
        int bytes = path.getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_UNIX_PATH_BYTES) {
            throw invalid(text, "Unix socket path is " + bytes + " bytes long, longer than the platform's limit of "
                    + MAX_UNIX_PATH_BYTES + " (use a shorter or relative path)");
        }
    }

    private static IllegalArgumentException invalid(String text, String problem) {
        return new IllegalArgumentException("invalid adder address '" + text + "': " + problem);
    }

    /**
     * Whether this is a Unix-domain socket address.
     *
     * @return true for {@code unix:} addresses
     */
    public boolean isUnix() {
        return unixPath != null;
    }

    /**
     * Whether this is a TLS address, TLS over TCP.
     *
     * @return true for {@code tls:} addresses
     */
    public boolean isTls() {
        return tls;
    }

    /**
     * The socket file of a Unix-domain address.
     *
     * @return the path, as given
     */
    public Path unixPath() {
        if (unixPath == null) {
            throw new IllegalStateException(this + " is not a Unix-domain address");
        }
        return unixPath;
    }

    /**
     * The host of a TCP or TLS address.
     *
     * @return the host, as given
     */
    public String host() {
        if (host == null) {
            throw new IllegalStateException(this + " is not a TCP address");
        }
        return host;
    }

    /**
     * The port of a TCP or TLS address.
     *
     * @return the port
     */
    public int port() {
        if (host == null) {
            throw new IllegalStateException(this + " is not a TCP address");
        }
        return port;
    }

    /**
     * The address as a {@link SocketAddress} for binding or connecting. A TCP
     * host name is resolved now; if it cannot be, the result is unresolved
     * ({@link InetSocketAddress#isUnresolved()}).
     *
     * @return a {@link UnixDomainSocketAddress} or an {@link InetSocketAddress}
     */
    public SocketAddress toSocketAddress() {
        return isUnix() ? UnixDomainSocketAddress.of(unixPath) : new InetSocketAddress(host, port);
    }

    /** The textual form, which {@link #parse} accepts: {@code unix:PATH}, {@code tcp:HOST:PORT} or {@code tls:HOST:PORT}. */
    @Override
    public String toString() {
        if (isUnix()) {
            return UNIX_PREFIX + unixPath;
        }
        return (tls ? TLS_PREFIX : TCP_PREFIX) + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof AdderAddress that
                && Objects.equals(unixPath, that.unixPath)
                && Objects.equals(host, that.host)
                && port == that.port
                && tls == that.tls;
    }

    @Override
    public int hashCode() {
        return Objects.hash(unixPath, host, port, tls);
    }
}
