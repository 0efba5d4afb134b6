#!/usr/bin/env bash
# Builds the Debian package of the daemon and the client from the tarball the build just made:
#
#   deb.sh TARGET_DIR VERSION TIMESTAMP    (run by Maven at package, -Pdist, after the tarball;
#                                           TIMESTAMP: the build's outputTimestamp, ISO 8601)
#
# makes TARGET_DIR/adder_DEBVERSION_ARCH.deb, DEBVERSION the version with ~ for its - (0.1.0~SNAPSHOT
# sorts before 0.1.0). Where the files go, and why:
#   /opt/adder/...             the unpacked tarball, unchanged: the one layout the units and the docs
#                              name, so that a tarball install and a package install are the same
#                              (Debian's archive keeps /opt for others; this package is not for it:
#                              lintian's dir-or-file-in-opt is overridden, saying so)
#   /usr/bin/adder, /usr/bin/adder-server
#                              links to the launchers (which follow links to find /opt/adder)
#   /lib/systemd/system/adder.service, adder@.service
#                              the units, installed and neither enabled nor started
#   /usr/lib/sysusers.d/adder.conf
#                              the system user and group adder
#   /etc/adder/                the template unit's INSTANCE.conf files, the operator's
#   /usr/share/doc/adder/      copyright and changelog, as policy asks
# The maintainer scripts (src/deb) make the user and start nothing, with or without systemd running.
# Without dpkg-deb and fakeroot it says so and builds nothing. What it says goes to standard output.
set -euo pipefail
target=$1
version=$2
timestamp=$3
src=$(cd "$(dirname "$0")/../deb" && pwd)
for tool in dpkg-deb fakeroot dpkg-shlibdeps; do
  if ! command -v "$tool" > /dev/null 2>&1; then
    echo "adder-dist: no $tool on this machine (Debian's dpkg-dev and fakeroot packages): no .deb"
    exit 0
  fi
done
debversion=${version//-/\~}
work=$target/deb
root=$work/root
rm -rf "$work" "$target"/adder_*.deb
mkdir -p "$root/opt" "$root/DEBIAN"
tar -xzf "$target/adder-$version.tar.gz" -C "$root/opt"
mv "$root/opt/adder-$version" "$root/opt/adder"
home=$root/opt/adder

mkdir -p "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/lib/sysusers.d" "$root/etc/adder" \
    "$root/usr/share/doc/adder" "$root/usr/share/lintian/overrides"
ln -s /opt/adder/bin/adder "$root/usr/bin/adder" # absolute: across top-level directories, as policy asks
ln -s /opt/adder/bin/adder-server "$root/usr/bin/adder-server"
install -m 644 "$home/systemd/adder.service" "$home/systemd/adder@.service" "$root/lib/systemd/system/"
install -m 644 "$home/systemd/adder.sysusers" "$root/usr/lib/sysusers.d/adder.conf"
install -m 644 "$src/copyright" "$root/usr/share/doc/adder/copyright"
install -m 644 "$src/lintian-overrides" "$root/usr/share/lintian/overrides/adder"
date=$(date -u -R -d "$timestamp")
printf 'adder (%s) unstable; urgency=medium\n\n  * Built from the Adder sources: /opt/adder/CHANGELOG.md says what changed.\n\n -- The Adder developers <adder@users.noreply.github.com>  %s\n' \
    "$debversion" "$date" | gzip -9n > "$root/usr/share/doc/adder/changelog.gz"
for script in postinst prerm postrm; do
  install -m 755 "$src/$script" "$root/DEBIAN/$script"
done

if [ -x "$home/runtime/bin/java" ]; then
  arch=$(dpkg --print-architecture)
  # the bundled runtime's native code, stripped as dh_strip would (the JDK's build leaves the symbol
  # tables: a fifth of the runtime); the CDS archive depends on the JVM's version, not on these
  mapfile -t elves < <(find "$home/runtime" -type f -exec sh -c 'head -c 4 "$1" | grep -q ELF' sh {} \; -print)
  for elf in "${elves[@]}"; do
    case $elf in
      *.so) strip --remove-section=.comment --remove-section=.note --strip-unneeded "$elf" ;;
      *) strip --remove-section=.comment --remove-section=.note "$elf" ;;
    esac
  done
  # jlink makes its legal notices and the CDS archives read-only (0444): the package's files are 0644
  find "$home/runtime" -type f -perm 0444 -exec chmod 0644 {} +
  # the libraries it needs, as dpkg-shlibdeps finds them
  mkdir -p "$work/debian"
  printf 'Source: adder\n\nPackage: adder\nArchitecture: any\n' > "$work/debian/control"
  shlibs=$(cd "$work" && dpkg-shlibdeps -O -e"${elves[@]/#$work\//}" 2> /dev/null | sed -n 's/^shlibs:Depends=//p')
  depends="passwd, $shlibs"
else
  # no runtime of its own: the launchers run the java on the PATH (or JAVA_HOME)
  arch=all
  depends="passwd, default-jre-headless (>= 2:1.17) | java17-runtime-headless"
fi
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$debversion/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
    "$src/control" > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
    > "$root/DEBIAN/md5sums"
# every file of the tree as of the build's timestamp, so that two builds of one commit are the same
find "$root" -exec touch -h -d "$timestamp" {} +
deb=$target/adder_${debversion}_$arch.deb
# gzip rather than dpkg-deb's xz: seconds rather than minutes for the runtime's 80 MB
SOURCE_DATE_EPOCH=$(date -u -d "$timestamp" +%s) fakeroot dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" > /dev/null
echo "adder-dist: Debian package $(du -h "$deb" | cut -f1) in $deb"
