package dev.adder.core.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

/**
 * TLS contexts from the files operators have: PEM certificates (a chain, or
 * the CAs to trust), PEM PKCS#8 private keys, PKCS#12 keystores. Every
 * failure is an {@link IOException} whose message is one line naming the
 * file and what is wrong with it, and for a key in another format, the
 * command that converts it. Public for the server's and the client's use;
 * not an API for applications, and it may change in any release.
 */
public final class TlsFiles {

    private static final String PKCS8_BEGIN = "-----BEGIN PRIVATE KEY-----";
    private static final String PKCS8_END = "-----END PRIVATE KEY-----";
    private static final String[] KEY_ALGORITHMS = {"RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS", "DSA"};
    private static final char[] NO_PASSWORD = new char[0];

    private TlsFiles() {
    }

    /**
     * A context that presents {@code chain} with {@code key}, and trusts the CAs of {@code trusted}
     * (null: the JDK's default trust store).
     *
     * @param chain PEM certificates, the server's (or client's) own first
     * @param key its PEM PKCS#8 private key
     * @param trusted PEM CA certificates to trust, or null
     * @return the context
     * @throws IOException naming the file at fault
     */
    public static SSLContext context(Path chain, Path key, Path trusted) throws IOException {
        List<X509Certificate> certificates = certificates(chain);
        PrivateKey privateKey = privateKey(key);
        checkPair(certificates.get(0), privateKey, chain, key);
        TrustManager[] trust = trustManagersOf(trusted); // before the key's try: a CA file at fault is named alone
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            store.setKeyEntry("adder", privateKey, NO_PASSWORD, certificates.toArray(Certificate[]::new));
            return context(keyManagers(store, NO_PASSWORD), trust);
        } catch (GeneralSecurityException | IOException e) {
            throw new IOException("cannot use the key in " + key + " with the certificates in " + chain + ": "
                    + describe(e), e);
        }
    }

    /**
     * A context that presents the key and chain of a PKCS#12 keystore, and trusts the CAs of
     * {@code trusted} (null: the JDK's default trust store).
     *
     * @param keyStore the PKCS#12 file
     * @param password its password (empty for none)
     * @param trusted PEM CA certificates to trust, or null
     * @return the context
     * @throws IOException naming the file at fault
     */
    public static SSLContext keyStoreContext(Path keyStore, char[] password, Path trusted) throws IOException {
        KeyStore store;
        try (InputStream in = Files.newInputStream(keyStore)) {
            store = KeyStore.getInstance("PKCS12");
            store.load(in, password);
        } catch (IOException | GeneralSecurityException e) {
            throw new IOException("cannot read the PKCS#12 keystore " + keyStore + ": " + describe(e), e);
        }
        try {
            return context(keyManagers(store, password), trusted == null ? null : trustManagers(trusted));
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use the keystore " + keyStore + ": " + describe(e), e);
        }
    }

    /**
     * A context for a client that presents no certificate and trusts the CAs of {@code trusted}
     * (null: the JDK's default trust store).
     *
     * @param trusted PEM CA certificates, or null
     * @return the context
     * @throws IOException naming the file at fault
     */
    public static SSLContext trustContext(Path trusted) throws IOException {
        try {
            return context(null, trusted == null ? null : trustManagers(trusted));
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot make a TLS context: " + describe(e), e);
        }
    }

    private static SSLContext context(KeyManager[] keys, TrustManager[] trust) throws GeneralSecurityException {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(keys, trust, null);
        return context;
    }

    private static KeyManager[] keyManagers(KeyStore store, char[] password) throws GeneralSecurityException {
        KeyManagerFactory factory = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        factory.init(store, password);
        return factory.getKeyManagers();
    }

    /** The trust managers of {@code trusted} (null for the JDK's default), a failure naming that file. */
    private static TrustManager[] trustManagersOf(Path trusted) throws IOException {
        try {
            return trusted == null ? null : trustManagers(trusted);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot trust the CA certificates in " + trusted + ": " + describe(e), e);
        }
    }

    private static TrustManager[] trustManagers(Path trusted) throws IOException, GeneralSecurityException {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        int i = 0;
        for (X509Certificate certificate : certificates(trusted)) {
            store.setCertificateEntry("ca-" + i++, certificate);
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(store);
        return factory.getTrustManagers();
    }

    /**
     * The certificates of a PEM file, in its order.
     *
     * @param file the file
     * @return at least one certificate
     * @throws IOException if it cannot be read or holds none
     */
    public static List<X509Certificate> certificates(Path file) throws IOException {
        byte[] bytes = certificateBlocks(read(file, "certificates"));
        Collection<? extends Certificate> read;
        try {
            read = CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(bytes));
        } catch (CertificateException e) {
            throw new IOException("cannot read the certificates in " + file + ": " + describe(e), e);
        }
        List<X509Certificate> certificates = new ArrayList<>();
        for (Certificate certificate : read) {
            certificates.add((X509Certificate) certificate);
        }
        if (certificates.isEmpty()) {
            throw new IOException("no PEM certificate in " + file + " (expected -----BEGIN CERTIFICATE-----)");
        }
        return certificates;
    }

    /** The file's CERTIFICATE blocks alone: a PEM file may hold the key beside them (HAProxy's own form does). */
    private static byte[] certificateBlocks(byte[] bytes) {
        String text = new String(bytes, StandardCharsets.US_ASCII);
        String begin = "-----BEGIN CERTIFICATE-----";
        String end = "-----END CERTIFICATE-----";
        if (!text.contains(begin) || !text.contains("-----BEGIN ") ) {
            return bytes; // DER, or no PEM at all: the factory says what it makes of it
        }
        StringBuilder blocks = new StringBuilder();
        for (int at = text.indexOf(begin); at >= 0; at = text.indexOf(begin, at + begin.length())) {
            int stop = text.indexOf(end, at);
            if (stop < 0) {
                break;
            }
            blocks.append(text, at, stop + end.length()).append('\n');
        }
        return blocks.toString().getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * The private key of a PEM PKCS#8 file ({@code -----BEGIN PRIVATE KEY-----}).
     *
     * @param file the file
     * @return the key
     * @throws IOException if it cannot be read, is in another format (the message says how to convert it), or is broken
     */
    public static PrivateKey privateKey(Path file) throws IOException {
        String text = new String(read(file, "private key"), StandardCharsets.US_ASCII);
        int begin = text.indexOf(PKCS8_BEGIN);
        int end = text.indexOf(PKCS8_END);
        if (begin < 0 || end < begin) {
            String convert = "openssl pkcs8 -topk8 -nocrypt -in " + file + " -out " + file + ".pk8";
            if (text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
                throw new IOException("the private key in " + file + " is encrypted; store it unencrypted (readable by"
                        + " the server's user alone) with: openssl pkcs8 -in " + file + " -out " + file + ".pk8");
            }
            if (text.contains("-----BEGIN RSA PRIVATE KEY-----") || text.contains("-----BEGIN EC PRIVATE KEY-----")) {
                throw new IOException("the private key in " + file + " is not PKCS#8; convert it with: " + convert);
            }
            throw new IOException("no PEM private key in " + file + " (expected " + PKCS8_BEGIN
                    + "; a key in another format converts with: " + convert + ")");
        }
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(text.substring(begin + PKCS8_BEGIN.length(), end));
        } catch (IllegalArgumentException e) {
            throw new IOException("the private key in " + file + " is not valid base64: " + e.getMessage(), e);
        }
        for (String algorithm : KEY_ALGORITHMS) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException notThisOne) {
                // the next algorithm
            }
        }
        throw new IOException("cannot read the private key in " + file + ": not an RSA, EC, EdDSA or DSA PKCS#8 key");
    }

    /** A key that is not the certificate's would fail every handshake later; say so now. */
    private static void checkPair(X509Certificate certificate, PrivateKey key, Path chain, Path keyFile)
            throws IOException {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "Ed448", "EdDSA" -> key.getAlgorithm();
            case "DSA" -> "SHA256withDSA";
            default -> null;
        };
        if (algorithm == null) {
            return;
        }
        byte[] probe = "adder".getBytes(StandardCharsets.US_ASCII);
        boolean matches;
        try {
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(probe);
            matches = verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            matches = false;
        }
        if (!matches) {
            throw new IOException("the private key in " + keyFile + " is not the key of the first certificate in "
                    + chain + " (" + certificate.getSubjectX500Principal().getName() + ")");
        }
    }

    private static byte[] read(Path file, String what) throws IOException {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IOException("cannot read the " + what + " file " + file + ": no such file", e);
        } catch (AccessDeniedException e) {
            throw new IOException("cannot read the " + what + " file " + file + ": permission denied", e);
        } catch (IOException e) {
            throw new IOException("cannot read the " + what + " file " + file + ": " + describe(e), e);
        }
    }

    /** An exception's message, or its kind when it has none; on one line. */
    private static String describe(Exception e) {
        String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return message.replaceAll("\\s+", " ");
    }
}
