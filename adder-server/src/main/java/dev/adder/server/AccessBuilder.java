package dev.adder.server;

import dev.adder.core.AdderAddress;
import dev.adder.core.HumanDuration;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import javax.net.ssl.SSLContext;

/**
 * The settings of {@link AdderServer.Builder} that say who may connect, and
 * how (beside {@link ServerBuilder}'s, whose base this is): the users and
 * groups admitted over Unix-domain sockets; and for {@code tls:} listeners,
 * where the keys come from, which clients are admitted, and the handshakes'
 * bounds. A server with a {@code tls:} listener needs keys.
 */
abstract class AccessBuilder {
    private SSLContext context;
    private Path certificateChain;
    private Path privateKey;
    private Path keyStore;
    private char[] keyStorePassword;
    private Path clientCa;
    private boolean requireClientCertificates;
    private int maxHandshakes = AdderServer.DEFAULT_MAX_HANDSHAKES;
    private Duration handshakeTimeout = AdderServer.DEFAULT_HANDSHAKE_TIMEOUT;
    private AllowedPeers allowedPeers = AllowedPeers.NONE;

    AccessBuilder() {
    }

    /** This builder, as the public class it is. */
    abstract AdderServer.Builder self();

    /**
     * Admits over Unix-domain sockets only these users, and the groups of
     * {@link AdderServer.Builder#allowGroups(String...)}, whatever the socket
     * file's mode: {@link AdderServer} says what is checked (the kernel's
     * credentials at {@code connect}), and what is not (TCP). An entry is a
     * user name or a decimal user id (0 to 2147483647, named or not; digits
     * that are a user's name are that user, as {@code chown} reads them),
     * resolved to an id here, once. Each call adds.
     *
     * @param users user names or ids, at least one
     * @return this builder
     * @throws IllegalArgumentException for no entry, an empty one, an unknown
     *         name, an id out of range, or a user database that cannot be read
     */
    public AdderServer.Builder allowUsers(String... users) {
        return allowUsers(Arrays.asList(Objects.requireNonNull(users, "users")));
    }

    /**
     * As {@link AdderServer.Builder#allowUsers(String...)}, from a collection.
     *
     * @param users user names or ids, at least one
     * @return this builder
     */
    public AdderServer.Builder allowUsers(Collection<String> users) {
        this.allowedPeers = allowedPeers.withUsers(users, AllowedPeers.defaultLookup());
        return self();
    }

    /**
     * Admits over Unix-domain sockets only the processes whose primary group
     * (effective group id at {@code connect}) is one of these, and the users
     * of {@link AdderServer.Builder#allowUsers(String...)}. Supplementary
     * groups are not seen. An entry is a group name or a decimal group id,
     * resolved here, once; each call adds.
     *
     * @param groups group names or ids, at least one
     * @return this builder
     * @throws IllegalArgumentException as {@link AdderServer.Builder#allowUsers(String...)} does, for groups
     */
    public AdderServer.Builder allowGroups(String... groups) {
        return allowGroups(Arrays.asList(Objects.requireNonNull(groups, "groups")));
    }

    /**
     * As {@link AdderServer.Builder#allowGroups(String...)}, from a collection.
     *
     * @param groups group names or ids, at least one
     * @return this builder
     */
    public AdderServer.Builder allowGroups(Collection<String> groups) {
        this.allowedPeers = allowedPeers.withGroups(groups, AllowedPeers.defaultLookup());
        return self();
    }


    /**
     * The TLS listeners present this PEM certificate chain (the server's own certificate first,
     * then its intermediates) with this PEM PKCS#8 private key. Both are read at
     * {@link AdderServer#start()}, and again by {@link AdderServer#reloadTls()}.
     *
     * @param certificateChain the chain, PEM
     * @param privateKey the key, PEM PKCS#8 ({@code -----BEGIN PRIVATE KEY-----}), unencrypted
     * @return this builder
     */
    public AdderServer.Builder tls(Path certificateChain, Path privateKey) {
        this.certificateChain = Objects.requireNonNull(certificateChain, "certificateChain");
        this.privateKey = Objects.requireNonNull(privateKey, "privateKey");
        this.keyStore = null;
        this.context = null;
        return self();
    }

    /**
     * The TLS listeners present the key and certificate chain of this PKCS#12 keystore, read at
     * {@link AdderServer#start()} and again by {@link AdderServer#reloadTls()}.
     *
     * @param keyStore the PKCS#12 file
     * @param password its password (empty for none); copied
     * @return this builder
     */
    public AdderServer.Builder tlsKeyStore(Path keyStore, char[] password) {
        this.keyStore = Objects.requireNonNull(keyStore, "keyStore");
        this.keyStorePassword = Objects.requireNonNull(password, "password").clone();
        this.certificateChain = null;
        this.privateKey = null;
        this.context = null;
        return self();
    }

    /**
     * The TLS listeners use this context as it is: its keys, its trust. It is not read again;
     * {@link AdderServer#reloadTls(SSLContext)} replaces it.
     *
     * @param context an initialized context
     * @return this builder
     */
    public AdderServer.Builder tls(SSLContext context) {
        this.context = Objects.requireNonNull(context, "context");
        this.certificateChain = null;
        this.privateKey = null;
        this.keyStore = null;
        return self();
    }

    /**
     * Admits only TLS clients that present a certificate signed by a CA of this PEM file (mutual
     * TLS): any other fails its handshake. Read with the keys. Applies to keys from files; with a
     * context of your own, its trust managers decide, and {@link #tlsRequireClientCertificates}
     * asks for the certificates.
     *
     * @param caCertificates one or more PEM CA certificates
     * @return this builder
     */
    public AdderServer.Builder tlsClientCa(Path caCertificates) {
        this.clientCa = Objects.requireNonNull(caCertificates, "caCertificates");
        return self();
    }

    /**
     * Whether TLS clients must present a certificate their server trusts (default: false, unless
     * {@link #tlsClientCa} is set).
     *
     * @param required whether a client without one fails its handshake
     * @return this builder
     */
    public AdderServer.Builder tlsRequireClientCertificates(boolean required) {
        this.requireClientCertificates = required;
        return self();
    }

    /**
     * The most TLS handshakes in progress at once, over the whole server (default
     * {@value AdderServer#DEFAULT_MAX_HANDSHAKES}); at the bound, TLS listeners accept no more until
     * one ends, and new connections wait in the kernel's queue.
     *
     * @param maxHandshakes 1 to {@value AdderServer#MAX_MAX_HANDSHAKES}
     * @return this builder
     */
    public AdderServer.Builder maxHandshakes(int maxHandshakes) {
        if (maxHandshakes < 1 || maxHandshakes > AdderServer.MAX_MAX_HANDSHAKES) {
            throw new IllegalArgumentException("maxHandshakes must be from 1 to " + AdderServer.MAX_MAX_HANDSHAKES
                    + ", not " + maxHandshakes);
        }
        this.maxHandshakes = maxHandshakes;
        return self();
    }

    /**
     * How long a TLS handshake may take, from the accept (default 10 s); a connection whose
     * handshake is not done by then is closed.
     *
     * @param timeout from 10 ms to 10 minutes
     * @return this builder
     */
    public AdderServer.Builder handshakeTimeout(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.compareTo(AdderServer.MIN_HANDSHAKE_TIMEOUT) < 0 || timeout.compareTo(AdderServer.MAX_HANDSHAKE_TIMEOUT) > 0) {
            throw new IllegalArgumentException("handshakeTimeout must be from 10ms to 10m, not "
                    + HumanDuration.describe(timeout));
        }
        this.handshakeTimeout = timeout;
        return self();
    }

    /** Who may connect over the Unix-domain listeners among {@code listen}; null if anyone the file mode lets in. */
    AllowedPeers allowedPeers(List<AdderAddress> listen) {
        return allowedPeers.forListeners(listen);
    }

    /** The TLS settings, or null if no keys were given. */
    TlsSettings tlsSettings() {
        if (context == null && certificateChain == null && keyStore == null) {
            return null;
        }
        return new TlsSettings(context, certificateChain, privateKey, keyStore, keyStorePassword, clientCa,
                requireClientCertificates, maxHandshakes, handshakeTimeout);
    }
}
