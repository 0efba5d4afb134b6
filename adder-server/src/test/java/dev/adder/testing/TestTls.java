package dev.adder.testing;

import dev.adder.core.AdderAddress;
import dev.adder.core.tls.TlsFiles;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;

/**
 * Test certificates, made with the JDK's own {@code keytool} (run as a process) and copied into a
 * test's directory, so that they can be named as files; and contexts made from them. They are made
 * once per build: under the directory the system property {@value #CACHE_PROPERTY} names (the
 * module's {@code target/test-tls}, set by the build for surefire and failsafe), where later test
 * JVMs of the build find them; made in a directory of their own and renamed into place at once, so
 * that two JVMs making them at the same time each end with one complete set. Without the property,
 * once per test JVM in a temporary directory deleted at its exit. Test use only.
 *
 * <ul>
 *   <li>{@code ca.pem}: the test CA (basicConstraints CA:true);
 *   <li>{@code server.pem} / {@code server.key}: for localhost, 127.0.0.1 and ::1 (subjectAltName),
 *       signed by the CA, the key PEM PKCS#8 (EC P-256);
 *   <li>{@code server2.pem} / {@code server2.key}: a second such pair, RSA, for reload tests;
 *   <li>{@code server.p12}: server.pem, its key and the CA as a PKCS#12 keystore, password
 *       {@value #KEY_STORE_PASSWORD};
 *   <li>{@code client.pem} / {@code client.key}: a client certificate (CN=adder-test-client) signed by the CA;
 *   <li>{@code other-ca.pem}, {@code other-client.pem} / {@code other-client.key}: a CA nobody trusts,
 *       and a client it signed;
 *   <li>{@code expired.pem} (key {@code server.key}): the server's key, certified by the CA for a day
 *       that ended yesterday;
 *   <li>{@code wrong-host.pem} (key {@code server.key}): the server's key, certified by the CA for
 *       {@code wrong.example} alone;
 *   <li>{@code server-pkcs1.key}: text with a PKCS#1 header ({@code BEGIN RSA PRIVATE KEY}), a format
 *       the loader refuses on the header alone.
 * </ul>
 */
public final class TestTls {

    /** The password of {@code server.p12}. */
    public static final String KEY_STORE_PASSWORD = "secret";
    private static final String[] FILES = {"ca.pem", "server.pem", "server.key", "server2.pem", "server2.key",
        "server.p12", "client.pem", "client.key", "other-ca.pem", "other-client.pem", "other-client.key",
        "expired.pem", "wrong-host.pem", "server-pkcs1.key"};
    private static final long DAYS = 36_500;
    /** The system property naming the directory the certificates are kept in for the build. */
    public static final String CACHE_PROPERTY = "adder.test.tlsCache";
    /** The cache's subdirectory: a new name when the files or the way they are made change. */
    private static final String CACHE_VERSION = "v1";
    /** Where the files are made, once per JVM; null until the first test asks. */
    private static Path made;
    private static SSLContext trustingCa;

    private final Path directory;

    private TestTls(Path directory) {
        this.directory = directory;
    }

    /** Copies the test certificates into {@code directory}, making them first if this JVM has not yet. */
    public static TestTls in(Path directory) {
        try {
            Path source = made();
            for (String name : FILES) {
                Files.copy(source.resolve(name), directory.resolve(name), StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new TestTls(directory);
    }

    public Path file(String name) {
        return directory.resolve(name);
    }

    public Path ca() {
        return file("ca.pem");
    }

    public Path serverCert() {
        return file("server.pem");
    }

    public Path serverKey() {
        return file("server.key");
    }

    /** The PKCS#12 keystore of the server's key and chain; its password is {@value #KEY_STORE_PASSWORD}. */
    public Path serverKeyStore() {
        return file("server.p12");
    }

    /** A client context that trusts the test CA and presents no certificate. */
    public SSLContext clientTrustingCa() throws IOException {
        return TlsFiles.trustContext(ca());
    }

    /** A client context that trusts the test CA and presents the test client certificate. */
    public SSLContext clientWithCertificate() throws IOException {
        return TlsFiles.context(file("client.pem"), file("client.key"), ca());
    }

    /** A client context that trusts the test CA and presents a certificate of a CA the server does not trust. */
    public SSLContext clientWithUntrustedCertificate() throws IOException {
        return TlsFiles.context(file("other-client.pem"), file("other-client.key"), ca());
    }

    /**
     * A JDK {@link SSLSocket} to a tls: address's port on 127.0.0.1, verifying the server's name as
     * HTTPS does, without delay; {@code protocols}, if any, the only ones it offers. Not yet
     * handshaken: the first read or write does it.
     */
    public static SSLSocket connect(SSLContext context, AdderAddress address, String... protocols) throws IOException {
        SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", address.port());
        SSLParameters parameters = socket.getSSLParameters();
        parameters.setEndpointIdentificationAlgorithm("HTTPS");
        if (protocols.length > 0) {
            parameters.setProtocols(protocols);
        }
        socket.setSSLParameters(parameters);
        socket.setTcpNoDelay(true);
        return socket;
    }

    /**
     * A client context that trusts the test CA and presents no certificate, made once per JVM: for
     * clients that need no file of their own.
     */
    public static synchronized SSLContext trustingCa() throws IOException {
        if (trustingCa == null) {
            trustingCa = TlsFiles.trustContext(made().resolve("ca.pem"));
        }
        return trustingCa;
    }

    private static synchronized Path made() throws IOException {
        if (made == null) {
            long start = System.nanoTime();
            String cache = System.getProperty(CACHE_PROPERTY);
            Path directory = cache == null || cache.isBlank() ? madeForThisJvm() : cached(Path.of(cache));
            // the first TLS test of a JVM waits for this: its time is not that test's
            System.out.println("TestTls: the test certificates in " + directory + " ready in "
                    + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms");
            made = directory;
        }
        return made;
    }

    private static Path madeForThisJvm() throws IOException {
        Path directory = Files.createTempDirectory("adder-test-tls");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteQuietly(directory)));
        make(directory);
        System.out.println("TestTls: made the test certificates with keytool");
        return directory;
    }

    /**
     * The build's certificates under {@code home}, made first if no JVM of the build has made them:
     * in a directory of this JVM's, renamed to their name once complete. A JVM that loses the race
     * to rename finds the winner's complete set there and deletes its own.
     */
    private static Path cached(Path home) throws IOException {
        Path ready = home.resolve(CACHE_VERSION);
        if (complete(ready)) {
            return ready;
        }
        Files.createDirectories(home);
        Path making = Files.createTempDirectory(home, CACHE_VERSION + ".making-");
        try {
            make(making);
            System.out.println("TestTls: made the test certificates with keytool");
            try {
                Files.move(making, ready, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                if (!complete(ready)) { // not another JVM's set: a failure of ours
                    throw e;
                }
            }
        } finally {
            if (Files.exists(making)) {
                deleteQuietly(making);
            }
        }
        return ready;
    }

    private static boolean complete(Path directory) {
        return Stream.of(FILES).allMatch(name -> Files.isRegularFile(directory.resolve(name)));
    }

    /**
     * Makes every file in {@code dir}: the key pairs first (each in a keystore of its own, a CA's
     * with its self-signed certificate), then the requests, then the certificates the CAs sign;
     * each step's keytools run side by side. Sixteen short JVMs: seconds on a quiet machine.
     */
    private static void make(Path dir) throws IOException {
        run(dir, List.of(
                genKeyPair("ca", "CN=Adder test CA", "EC", "-ext", "bc:c", "-ext", "ku:c=keyCertSign,cRLSign"),
                genKeyPair("other-ca", "CN=Adder untrusted test CA", "EC", "-ext", "bc:c",
                        "-ext", "ku:c=keyCertSign,cRLSign"),
                genKeyPair("server", "CN=localhost", "EC"),
                genKeyPair("server2", "CN=localhost", "RSA"),
                genKeyPair("client", "CN=adder-test-client", "EC"),
                genKeyPair("other-client", "CN=adder-untrusted-client", "EC")));
        for (String ca : List.of("ca", "other-ca")) {
            Files.writeString(dir.resolve(ca + ".pem"), pem("CERTIFICATE", certificate(dir, ca)), StandardCharsets.US_ASCII);
        }
        run(dir, List.of(
                certificateRequest("server"),
                certificateRequest("server2"),
                certificateRequest("client"),
                certificateRequest("other-client")));
        String serverNames = "san=dns:localhost,ip:127.0.0.1,ip:::1";
        run(dir, List.of(
                sign("ca", "server", "server.pem", "-ext", serverNames, "-ext", "eku=serverAuth"),
                sign("ca", "server2", "server2.pem", "-ext", serverNames, "-ext", "eku=serverAuth"),
                sign("ca", "client", "client.pem", "-ext", "eku=clientAuth"),
                sign("other-ca", "other-client", "other-client.pem", "-ext", "eku=clientAuth"),
                signFor("ca", "server", "expired.pem", "-2d", 1, "-ext", serverNames, "-ext", "eku=serverAuth"),
                sign("ca", "server", "wrong-host.pem", "-ext", "san=dns:wrong.example", "-ext", "eku=serverAuth")));
        for (String name : List.of("server", "server2", "client", "other-client")) {
            Files.writeString(dir.resolve(name + ".key"), pem("PRIVATE KEY", key(dir, name).getEncoded()),
                    StandardCharsets.US_ASCII);
        }
        writeServerKeyStore(dir);
        Files.writeString(dir.resolve("server-pkcs1.key"), pem("RSA PRIVATE KEY", key(dir, "server2").getEncoded()),
                StandardCharsets.US_ASCII);
    }

    private static List<String> genKeyPair(String name, String subject, String algorithm, String... extensions) {
        List<String> command = keytool("-genkeypair", "-alias", name, "-keystore", name + ".p12", "-dname", subject,
                "-keyalg", algorithm, "-validity", Long.toString(DAYS));
        command.addAll(List.of(algorithm.equals("EC") ? new String[] {"-groupname", "secp256r1"}
                : new String[] {"-keysize", "2048"}));
        command.addAll(List.of(extensions));
        return command;
    }

    private static List<String> certificateRequest(String name) {
        return keytool("-certreq", "-alias", name, "-keystore", name + ".p12", "-file", name + ".csr");
    }

    private static List<String> sign(String ca, String subject, String out, String... extensions) {
        return signFor(ca, subject, out, null, DAYS, extensions);
    }

    /** The CA's certificate of {@code subject}'s request, valid {@code days} from {@code start} (null: now). */
    private static List<String> signFor(String ca, String subject, String out, String start, long days,
            String... extensions) {
        List<String> command = keytool("-gencert", "-alias", ca, "-keystore", ca + ".p12", "-infile", subject + ".csr",
                "-outfile", out, "-rfc", "-validity", Long.toString(days));
        if (start != null) {
            command.addAll(List.of("-startdate", start));
        }
        command.addAll(List.of(extensions));
        return command;
    }

    /** A keytool command line of the running JDK's, every keystore PKCS#12 with the one test password. */
    private static List<String> keytool(String... args) {
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                // a short-lived JVM: start it quickly, and protect its test keystores with one round of PBE, not thousands
                "-J-XX:+UseSerialGC", "-J-XX:TieredStopAtLevel=1", "-J-XX:-UsePerfData",
                "-J-Dkeystore.pkcs12.keyPbeIterationCount=1", "-J-Dkeystore.pkcs12.certPbeIterationCount=1",
                "-J-Dkeystore.pkcs12.macIterationCount=1"));
        command.addAll(List.of(args));
        command.addAll(List.of("-storetype", "PKCS12", "-storepass", KEY_STORE_PASSWORD, "-noprompt"));
        if (args[0].equals("-genkeypair")) {
            command.addAll(List.of("-keypass", KEY_STORE_PASSWORD));
        }
        return command;
    }

    /** Runs the commands side by side in {@code dir}; each must exit 0. */
    private static void run(Path dir, List<List<String>> commands) throws IOException {
        List<Process> processes = new ArrayList<>();
        List<Path> outputs = new ArrayList<>();
        for (List<String> command : commands) {
            Path output = Files.createTempFile(dir, "keytool", ".out");
            outputs.add(output);
            processes.add(new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(output.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start());
        }
        for (int i = 0; i < processes.size(); i++) {
            Process process = processes.get(i);
            try {
                if (!process.waitFor(2, TimeUnit.MINUTES)) {
                    process.destroyForcibly();
                    throw new IOException("keytool took over 2 minutes: " + commands.get(i));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while keytool ran", e);
            }
            if (process.exitValue() != 0) {
                throw new IOException("keytool failed (exit " + process.exitValue() + "): " + commands.get(i) + ": "
                        + Files.readString(outputs.get(i)).strip());
            }
            Files.delete(outputs.get(i));
        }
    }

    private static Key key(Path dir, String name) throws IOException {
        try {
            return keyStore(dir, name).getKey(name, KEY_STORE_PASSWORD.toCharArray());
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot read the key of " + name + ".p12", e);
        }
    }

    /** The DER of the self-signed certificate keytool made with the key pair: a CA's own. */
    private static byte[] certificate(Path dir, String name) throws IOException {
        try {
            return keyStore(dir, name).getCertificate(name).getEncoded();
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot read the certificate of " + name + ".p12", e);
        }
    }

    private static KeyStore keyStore(Path dir, String name) throws IOException, GeneralSecurityException {
        try (InputStream in = Files.newInputStream(dir.resolve(name + ".p12"))) {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(in, KEY_STORE_PASSWORD.toCharArray());
            return store;
        }
    }

    /** server.p12: the server's key, with its certificate and the CA's as its chain. */
    private static void writeServerKeyStore(Path dir) throws IOException {
        try {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            Certificate[] chain = new Certificate[2];
            try (InputStream server = Files.newInputStream(dir.resolve("server.pem"));
                 InputStream ca = Files.newInputStream(dir.resolve("ca.pem"))) {
                chain[0] = factory.generateCertificate(server);
                chain[1] = factory.generateCertificate(ca);
            }
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            char[] password = KEY_STORE_PASSWORD.toCharArray();
            store.setKeyEntry("server", key(dir, "server"), password, chain);
            Path file = dir.resolve("server.p12.tmp");
            try (var out = Files.newOutputStream(file)) {
                store.store(out, password);
            }
            Files.move(file, dir.resolve("server.p12"), StandardCopyOption.REPLACE_EXISTING);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot write server.p12", e);
        }
    }

    private static String pem(String type, byte[] der) {
        String body = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
        return "-----BEGIN " + type + "-----\n" + body + "\n-----END " + type + "-----\n";
    }

    private static void deleteQuietly(Path directory) {
        try (Stream<Path> files = Files.walk(directory)) {
            files.sorted(Comparator.reverseOrder()).forEach(file -> file.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            // the JVM is ending; a leftover temporary directory is harmless
        }
    }
}
