package dev.adder.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.adder.core.AdderAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.util.Arrays;
import java.util.List;
import jdk.net.UnixDomainPrincipal;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The allowed users and groups, without a socket: what an entry may be, how
 * it is resolved, and which principals it admits. Principals are the
 * JDK's, from the same lookup service; the kernel's are in PeerCredentialsTest.
 */
class AllowedPeersTest {

    private static final UserPrincipalLookupService LOOKUP = AllowedPeers.defaultLookup();

    /** This process: the owner of /proc/self is its effective user and group. */
    private static PosixFileAttributes self() throws IOException {
        return Files.readAttributes(Path.of("/proc/self"), PosixFileAttributes.class);
    }

    private static int selfId(String attribute) throws IOException {
        return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:" + attribute);
    }

    private static UnixDomainPrincipal peer(String user, String group) throws IOException {
        return new UnixDomainPrincipal(LOOKUP.lookupPrincipalByName(user), LOOKUP.lookupPrincipalByGroupName(group));
    }

    private static AllowedPeers users(String... entries) {
        return AllowedPeers.NONE.withUsers(Arrays.asList(entries), LOOKUP);
    }

    private static AllowedPeers groups(String... entries) {
        return AllowedPeers.NONE.withGroups(Arrays.asList(entries), LOOKUP);
    }

    private static String refusal(Runnable setting) {
        return assertThrows(IllegalArgumentException.class, setting::run).getMessage();
    }

    @Test
    void aUserIsMatchedByItsNameAndByItsNumberAlike() throws IOException {
        PosixFileAttributes self = self();
        String uid = Integer.toString(selfId("uid"));
        String gid = Integer.toString(selfId("gid"));
        UnixDomainPrincipal byName = new UnixDomainPrincipal(self.owner(), self.group());
        UnixDomainPrincipal byNumber = peer(uid, gid);
        for (AllowedPeers allowed : List.of(users(self.owner().getName()), users(uid), groups(self.group().getName()),
                groups(gid))) {
            assertTrue(allowed.admits(byName), allowed + " admits " + byName);
            assertTrue(allowed.admits(byNumber), allowed + " admits " + byNumber);
        }
    }

    @Test
    void anIdWithoutANameIsAnEntryToo() throws IOException {
        UnixDomainPrincipal nameless = peer("2147483646", "2147483646"); // ids no system names
        assertTrue(users("2147483646").admits(nameless));
        assertTrue(groups("2147483646").admits(nameless));
        assertTrue(users("0002147483646").admits(nameless), "leading zeros are the same number");
        assertFalse(users("2147483645").admits(nameless));
    }

    @Test
    void eitherListAdmits() throws IOException {
        UnixDomainPrincipal stranger = peer("2147483646", "2147483645");
        AllowedPeers allowed = users("2147483600").withGroups(List.of("2147483645"), LOOKUP);
        assertTrue(allowed.admits(stranger), "by its group");
        assertTrue(allowed.admits(peer("2147483600", "2147483601")), "by its user");
        assertFalse(allowed.admits(peer("2147483601", "2147483600")), "a group id equal to an allowed user id is no user");
    }

    @Test
    void eachCallAddsAndAnEntryCountsOnce() {
        AllowedPeers allowed = users("2147483600", "2147483601").withUsers(List.of("2147483600"), LOOKUP)
                .withGroups(List.of("2147483602"), LOOKUP).withGroups(List.of("2147483603"), LOOKUP);
        assertEquals("users 2147483600, 2147483601 or groups 2147483602, 2147483603", allowed.toString());
        assertEquals("groups 2147483602", groups("2147483602").toString());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
        "-1|'-1' is not a user id from 0 to 2147483647",
        "+5|'+5' is not a user id from 0 to 2147483647",
        "2147483648|'2147483648' is not a user id from 0 to 2147483647",
        "99999999999999999999999|'99999999999999999999999' is not a user id from 0 to 2147483647",
        "no-such-user-of-adder-tests|unknown user 'no-such-user-of-adder-tests'",
    })
    void anEntryThatIsNoUserIsRefusedNamingIt(String entry, String message) {
        assertEquals(message, refusal(() -> users(entry)));
        assertEquals(message.replace("user ", "group "), refusal(() -> groups(entry)));
    }

    @Test
    void anEmptyListOrEntryIsRefused() {
        assertEquals("an empty list of users: give at least one user name or id", refusal(() -> users()));
        assertEquals("an empty list of groups: give at least one group name or id", refusal(() -> groups()));
        assertEquals("an empty user name in the list of users", refusal(() -> users("0", "")));
        assertEquals("an empty group name in the list of groups", refusal(() -> groups("")));
    }

    @Test
    void aControlCharacterIsRefusedOnOneLine() {
        // a NUL would cut the name short where the C library reads it: "root\0x" would be root
        assertEquals("the user name 'root?x' contains a control character", refusal(() -> users("root\0x")));
        assertEquals("the group name 'a?b' contains a control character", refusal(() -> groups("a\nb")));
    }

    @Test
    void aUserDatabaseThatCannotBeReadIsRefusedSayingSo() {
        UserPrincipalLookupService broken = new UserPrincipalLookupService() {
            @Override
            public UserPrincipal lookupPrincipalByName(String name) throws IOException {
                throw new IOException("the directory is down");
            }

            @Override
            public GroupPrincipal lookupPrincipalByGroupName(String group) throws IOException {
                throw new IOException("the directory is down");
            }
        };
        assertEquals("cannot look up user 'alice': the directory is down",
                refusal(() -> AllowedPeers.NONE.withUsers(List.of("alice"), broken)));
        assertEquals("cannot look up group 'staff': the directory is down",
                refusal(() -> AllowedPeers.NONE.withGroups(List.of("staff"), broken)));
    }

    @Test
    void withoutAnEntryNothingIsCheckedAndWithoutAUnixListenerEntriesAreRefused() {
        List<AdderAddress> tcp = List.of(AdderAddress.parse("tcp:127.0.0.1:0"));
        assertNull(AllowedPeers.NONE.forListeners(tcp));
        AllowedPeers allowed = users("0");
        assertEquals("allowUsers and allowGroups check Unix-domain connections only, and no listen address is one"
                + " (tcp:127.0.0.1:0): they would check nothing",
                assertThrows(IllegalStateException.class, () -> allowed.forListeners(tcp)).getMessage());
        assertSame(allowed, allowed.forListeners(List.of(tcp.get(0), AdderAddress.parse("unix:a.sock"))));
    }

    @Test
    void theBuilderTakesNamesIdsAndCollectionsAndRefusesAServerThatWouldCheckNothing() {
        AdderServer.builder().allowUsers("0").allowUsers(List.of("2147483646")).allowGroups("0")
                .allowGroups(List.of("2147483646")).listen("unix:a.sock").build();
        assertEquals("unknown group 'no-such-group-of-adder-tests'", refusal(() -> AdderServer.builder()
                .allowGroups("no-such-group-of-adder-tests")));
        IllegalStateException tcpOnly = assertThrows(IllegalStateException.class,
                () -> AdderServer.builder().allowGroups("0").listen("tcp:127.0.0.1:0").build());
        assertTrue(tcpOnly.getMessage().startsWith("allowUsers and allowGroups check Unix-domain connections only"),
                tcpOnly.getMessage());
    }
}
