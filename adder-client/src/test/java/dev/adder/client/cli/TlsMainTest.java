package dev.adder.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.server.AdderServer;
import dev.adder.testing.CommandLineHarness;
import dev.adder.testing.TestTls;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line against a server over TLS: its TLS options, and a certificate that does not verify. */
class TlsMainTest {

    @TempDir
    Path dir;

    private AdderServer server;
    private TestTls tls;
    private String address;
    private final CommandLineHarness client = new CommandLineHarness(Main::run);

    @BeforeEach
    void startServer() throws IOException {
        tls = TestTls.in(dir);
        server = AdderServer.builder().listen("tls:127.0.0.1:0").tls(tls.serverCert(), tls.serverKey())
                .tlsClientCa(tls.ca()).build();
        server.start();
        address = server.addresses().get(0).toString();
    }

    @AfterEach
    void stopServer() {
        server.close();
    }

    @Test
    void printsTheSumOverMutualTls() {
        assertEquals(0, client.run("--connect", address, "--tls-ca", tls.ca().toString(),
                "--tls-cert", tls.file("client.pem").toString(), "--tls-key=" + tls.file("client.key"), "7", "10"));
        assertEquals("17" + System.lineSeparator(), client.out());
        assertEquals("", client.err());
    }

    @Test
    void aServerCertificateThatDoesNotVerifyIsOneLineAndExitsOne() {
        assertEquals(1, client.run("--connect", address, "--timeout", "10s", "7", "10"));
        String err = client.err();
        assertTrue(err.startsWith("adder-client: cannot connect to " + address + ": TLS handshake failed: "), err);
        assertEquals(1, err.lines().count(), err);
        assertEquals("", client.out());
    }

    @Test
    void aRefusedClientCertificateIsOneLineAndExitsOne() {
        assertEquals(1, client.run("--connect", address, "--tls-ca", tls.ca().toString(), "7", "10"));
        String err = client.err();
        assertTrue(err.startsWith("adder-client: "), err);
        assertTrue(err.contains("TLS"), err);
        assertEquals(1, err.lines().count(), err);
    }

    @Test
    void tlsOptionsThatCannotBeUsedExitTwo() {
        assertEquals(2, client.run("--connect", address, "--tls-key", tls.file("client.key").toString(), "7", "10"));
        assertEquals("adder-client: --tls-key needs --tls-cert (try --help)" + System.lineSeparator(), client.err());
        client.reset();
        assertEquals(2, client.run("--connect", "tcp:127.0.0.1:1", "--tls-ca", tls.ca().toString(), "7", "10"));
        assertEquals("adder-client: --tls-ca, --tls-cert and --tls-key are for a tls: address, not tcp:127.0.0.1:1"
                + " (try --help)" + System.lineSeparator(), client.err());
        client.reset();
        Path missing = dir.resolve("missing.pem");
        assertEquals(2, client.run("--connect", address, "--tls-ca", missing.toString(), "7", "10"));
        assertEquals("adder-client: cannot read the certificates file " + missing + ": no such file (try --help)"
                + System.lineSeparator(), client.err());
    }
}
