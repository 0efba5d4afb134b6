package dev.adder.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AdderAddressTest {

    @Test
    void unixRelativePath() {
        AdderAddress address = AdderAddress.parse("unix:adder.sock");
        assertTrue(address.isUnix());
        assertEquals(Path.of("adder.sock"), address.unixPath());
        assertEquals(UnixDomainSocketAddress.of("adder.sock"), address.toSocketAddress());
        assertEquals("unix:adder.sock", address.toString());
    }

    @Test
    void unixAbsolutePath() {
        AdderAddress address = AdderAddress.parse("unix:/run/adder/adder.sock");
        assertEquals(Path.of("/run/adder/adder.sock"), address.unixPath());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "/tmp/x.sock     | /tmp/x.sock",
        "./adder.sock    | ./adder.sock",
        "adder.sock      | adder.sock",
        "run/adder/sock  | run/adder/sock",
    })
    void aBarePathCanOnlyBeASocketFile(String text, String path) {
        AdderAddress address = AdderAddress.parse(text);
        assertTrue(address.isUnix());
        assertEquals(Path.of(path), address.unixPath());
        assertEquals("unix:" + path, address.toString());
    }

    @Test
    void unixPathAtTheLimitIsAccepted() {
        String path = "/" + "a".repeat(AdderAddress.MAX_UNIX_PATH_BYTES - 1);
        assertEquals(Path.of(path), AdderAddress.parse("unix:" + path).unixPath());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "tcp:127.0.0.1:7000 | 127.0.0.1 | 7000 | tcp:127.0.0.1:7000",
        "127.0.0.1:7000     | 127.0.0.1 | 7000 | tcp:127.0.0.1:7000",
        "tcp:localhost:0    | localhost | 0    | tcp:localhost:0",
        "localhost:65535    | localhost | 65535 | tcp:localhost:65535",
        "tcp:[::1]:7000     | ::1       | 7000 | tcp:[::1]:7000",
        "[::1]:7000         | ::1       | 7000 | tcp:[::1]:7000",
        "tcp:0.0.0.0:1      | 0.0.0.0   | 1    | tcp:0.0.0.0:1",
    })
    void tcpForms(String text, String host, int port, String canonical) {
        AdderAddress address = AdderAddress.parse(text);
        assertFalse(address.isUnix());
        assertEquals(host, address.host());
        assertEquals(port, address.port());
        assertEquals(canonical, address.toString());
        assertEquals(address, AdderAddress.parse(canonical));
    }

    @Test
    void ipv6LoopbackResolvesToASocketAddress() {
        InetSocketAddress socketAddress = (InetSocketAddress) AdderAddress.parse("tcp:[::1]:7000").toSocketAddress();
        assertFalse(socketAddress.isUnresolved());
        assertTrue(socketAddress.getAddress().isLoopbackAddress());
        assertEquals(7000, socketAddress.getPort());
    }

    @Test
    void boundSocketAddressesConvertBack() {
        assertEquals(AdderAddress.parse("tcp:127.0.0.1:4242"),
                AdderAddress.of(new InetSocketAddress("127.0.0.1", 4242)));
        assertEquals(AdderAddress.parse("unix:/tmp/a.sock"),
                AdderAddress.of(UnixDomainSocketAddress.of("/tmp/a.sock")));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
        "unix:                 | empty Unix socket path",
        "tcp:127.0.0.1         | expected unix:PATH, tcp:HOST:PORT, tls:HOST:PORT or HOST:PORT",
        "localhost             | expected unix:PATH, tcp:HOST:PORT, tls:HOST:PORT or HOST:PORT",
        "tcp:127.0.0.1:        | missing port",
        "tcp::7000             | missing host",
        ":7000                 | missing host",
        "tcp:127.0.0.1:65536   | port 65536 is out of range 0-65535",
        "tcp:127.0.0.1:-1      | port '-1' is not a number from 0 to 65535",
        "tcp:127.0.0.1:http    | port 'http' is not a number from 0 to 65535",
        "tcp:127.0.0.1:9999999 | port '9999999' is not a number from 0 to 65535",
        "tcp:::1:7000          | an IPv6 address needs brackets, as in tcp:[::1]:PORT",
        "tcp:[::1:7000         | IPv6 address has no closing ']'",
        "tcp:[::1]7000         | expected ':PORT' after ']'",
        "tcp:[127.0.0.1]:7000  | brackets are only for IPv6 addresses",
        "\"tcp:local host:1\"  | host contains whitespace",
        "tls:127.0.0.1         | expected unix:PATH, tcp:HOST:PORT, tls:HOST:PORT or HOST:PORT",
        "tls:[::1]7000         | expected ':PORT' after ']'",
        "ssl:localhost:7000    | unknown scheme 'ssl:' (expected unix:PATH, tcp:HOST:PORT, tls:HOST:PORT or HOST:PORT)",
        "https:localhost:443   | unknown scheme 'https:' (expected unix:PATH, tcp:HOST:PORT, tls:HOST:PORT or HOST:PORT)",
    })
    void rejectedFormsNameTheInputAndTheProblem(String text, String problem) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AdderAddress.parse(text));
        assertEquals("invalid adder address '" + text + "': " + problem, e.getMessage());
    }

    @Test
    void tlsAddressIsATcpAddressUnderTls() {
        AdderAddress address = AdderAddress.parse("tls:localhost:7443");
        assertTrue(address.isTls());
        assertFalse(address.isUnix());
        assertEquals("localhost", address.host());
        assertEquals(7443, address.port());
        assertEquals("tls:localhost:7443", address.toString());
        assertEquals(address, AdderAddress.parse(address.toString()));
        assertEquals(AdderAddress.tls("localhost", 7443), address);
        assertNotEquals(AdderAddress.tcp("localhost", 7443), address, "tls: and tcp: on one port are two addresses");
        assertEquals("tls:[::1]:7443", AdderAddress.parse("tls:[::1]:7443").toString());
        assertFalse(AdderAddress.parse("tcp:localhost:7443").isTls());
        assertFalse(AdderAddress.parse("localhost:7443").isTls());
    }

    @Test
    void unixPathTooLongIsRejectedWithItsLength() {
        String path = "/" + "a".repeat(AdderAddress.MAX_UNIX_PATH_BYTES);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AdderAddress.parse("unix:" + path));
        assertEquals("invalid adder address 'unix:" + path + "': Unix socket path is "
                + (AdderAddress.MAX_UNIX_PATH_BYTES + 1) + " bytes long, longer than the platform's limit of "
                + AdderAddress.MAX_UNIX_PATH_BYTES + " (use a shorter or relative path)", e.getMessage());
    }

    @Test
    void tcpFactoryRejectsPortOutOfRange() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AdderAddress.tcp("localhost", 70000));
        assertEquals("TCP port 70000 is out of range 0-65535", e.getMessage());
    }
}
