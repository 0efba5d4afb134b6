package dev.adder.server;

import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.nio.file.FileSystems;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;

/**
 * Who may connect over a Unix-domain socket: a peer is admitted when its
 * user is one of {@code users} or its group one of {@code groups}, the peer
 * being what the kernel recorded when it connected ({@code SO_PEERCRED}:
 * the effective user and group ids of the process that called
 * {@code connect}; supplementary groups are not recorded, so not seen).
 *
 * <p>Each entry, a name or a numeric id, is resolved to a principal once,
 * when it is added, through the default file system's lookup service; an
 * unknown name is an {@link IllegalArgumentException} then. Principals are
 * compared with {@code equals}, which on Unix compares the ids: a user is
 * matched by any of its names, and by its number whether or not it has a
 * name. Immutable, so any thread may read it; {@link #NONE} (no entry)
 * means no check.
 */
final class AllowedPeers {

    /** How a connected socket's peer credentials are read: {@link #KERNEL}, or a test's stand-in. */
    @FunctionalInterface
    interface Credentials {
        UnixDomainPrincipal of(SocketChannel socket) throws IOException;
    }

    /** The kernel's word: {@code SO_PEERCRED}. */
    static final Credentials KERNEL = socket -> socket.getOption(ExtendedSocketOptions.SO_PEERCRED);

    /** The largest id an entry may give: the JDK's principals hold ids as Java ints. */
    static final long MAX_ID = Integer.MAX_VALUE;

    static final AllowedPeers NONE = new AllowedPeers(List.of(), List.of(), KERNEL);

    private final List<UserPrincipal> users;
    private final List<GroupPrincipal> groups;
    private final Credentials credentials;

    private AllowedPeers(List<UserPrincipal> users, List<GroupPrincipal> groups, Credentials credentials) {
        this.users = users;
        this.groups = groups;
        this.credentials = credentials;
    }

    /** These and the users named by {@code entries} (names or numeric ids; at least one). */
    AllowedPeers withUsers(Collection<String> entries, UserPrincipalLookupService lookup) {
        List<UserPrincipal> more = new ArrayList<>(users);
        for (String entry : checked(entries, "user")) {
            UserPrincipal user = resolve(entry, "user", () -> lookup.lookupPrincipalByName(entry));
            if (!more.contains(user)) {
                more.add(user);
            }
        }
        return new AllowedPeers(List.copyOf(more), groups, credentials);
    }

    /** These and the groups named by {@code entries} (names or numeric ids; at least one). */
    AllowedPeers withGroups(Collection<String> entries, UserPrincipalLookupService lookup) {
        List<GroupPrincipal> more = new ArrayList<>(groups);
        for (String entry : checked(entries, "group")) {
            GroupPrincipal group = resolve(entry, "group", () -> lookup.lookupPrincipalByGroupName(entry));
            if (!more.contains(group)) {
                more.add(group);
            }
        }
        return new AllowedPeers(users, List.copyOf(more), credentials);
    }

    /** The default file system's lookup service: the one whose principals the JDK's {@code SO_PEERCRED} gives. */
    static UserPrincipalLookupService defaultLookup() {
        return FileSystems.getDefault().getUserPrincipalLookupService();
    }

    /** The same entries, their credentials read by {@code credentials}: tests. */
    AllowedPeers readingWith(Credentials credentials) {
        return new AllowedPeers(users, groups, Objects.requireNonNull(credentials, "credentials"));
    }

    boolean isEmpty() {
        return users.isEmpty() && groups.isEmpty();
    }

    /**
     * What a server listening on {@code listen} checks: null if there is no
     * entry, this otherwise.
     *
     * @throws IllegalStateException if there are entries but no Unix-domain
     *         address: they would check nothing, and every client be served
     */
    AllowedPeers forListeners(List<AdderAddress> listen) {
        if (isEmpty()) {
            return null;
        }
        if (listen.stream().noneMatch(AdderAddress::isUnix)) {
            throw new IllegalStateException("allowUsers and allowGroups check Unix-domain connections only, and no"
                    + " listen address is one (" + listen.stream().map(AdderAddress::toString)
                    .collect(Collectors.joining(", ")) + "): they would check nothing");
        }
        return this;
    }

    /** The peer credentials of a connected Unix-domain socket, as the kernel recorded them at connect. */
    UnixDomainPrincipal credentials(SocketChannel socket) throws IOException {
        UnixDomainPrincipal peer = credentials.of(socket);
        if (peer == null) {
            throw new IOException("no peer credentials");
        }
        return peer;
    }

    /** Whether the peer's user is allowed, or its group. */
    boolean admits(UnixDomainPrincipal peer) {
        return users.contains(peer.user()) || groups.contains(peer.group());
    }

    /** For the log: {@code users alice, 1001 or groups adder}. */
    @Override
    public String toString() {
        String userList = users.isEmpty() ? "" : "users " + names(users);
        String groupList = groups.isEmpty() ? "" : "groups " + names(groups);
        return userList + (userList.isEmpty() || groupList.isEmpty() ? "" : " or ") + groupList;
    }

    private static String names(List<? extends UserPrincipal> principals) {
        return principals.stream().map(UserPrincipal::getName).collect(Collectors.joining(", "));
    }

    /** The entries, each a name or an id in range; a list without one, or an empty entry, is refused. */
    private static List<String> checked(Collection<String> entries, String kind) {
        Objects.requireNonNull(entries, kind + "s");
        if (entries.isEmpty()) {
            throw new IllegalArgumentException("an empty list of " + kind + "s: give at least one " + kind
                    + " name or id");
        }
        List<String> checked = new ArrayList<>(entries.size());
        for (String entry : entries) {
            Objects.requireNonNull(entry, kind);
            if (entry.isEmpty()) {
                throw new IllegalArgumentException("an empty " + kind + " name in the list of " + kind + "s");
            }
            if (entry.chars().anyMatch(c -> c < ' ' || c == 0x7f)) { // a NUL would end the name the C library sees
                throw new IllegalArgumentException("the " + kind + " name '" + entry.replaceAll("\\p{Cntrl}", "?")
                        + "' contains a control character");
            }
            // the lookup service reads any int as an id, signs and all: only plain digits are ids here
            boolean signed = entry.length() > 1 && (entry.charAt(0) == '-' || entry.charAt(0) == '+')
                    && isDigits(entry.substring(1));
            if (signed || isDigits(entry) && !isId(entry)) {
                throw new IllegalArgumentException("'" + entry + "' is not a " + kind + " id from 0 to " + MAX_ID);
            }
            checked.add(entry);
        }
        return checked;
    }

    private static boolean isDigits(String s) {
        return s.chars().allMatch(c -> c >= '0' && c <= '9');
    }

    /** Digits of a number from 0 to {@link #MAX_ID}, leading zeros and all. */
    private static boolean isId(String digits) {
        String significant = digits.replaceFirst("^0+(?=.)", "");
        return significant.length() <= 10 && Long.parseLong(significant) <= MAX_ID;
    }

    /** A lookup that may fail. */
    @FunctionalInterface
    private interface Lookup<P> {
        P find() throws IOException;
    }

    private static <P> P resolve(String entry, String kind, Lookup<P> lookup) {
        try {
            return Objects.requireNonNull(lookup.find(), kind);
        } catch (UserPrincipalNotFoundException e) {
            throw new IllegalArgumentException("unknown " + kind + " '" + entry + "'", e);
        } catch (IOException | UnsupportedOperationException e) {
            throw new IllegalArgumentException("cannot look up " + kind + " '" + entry + "': " + e.getMessage(), e);
        }
    }
}
