#!/usr/bin/env bash
# Builds the distribution's own Java runtime, when the build's JDK can: a jlink image of the modules
# the daemon and the client need, the application's own modules among them (adder, slf4j, logback),
# with a class-data-sharing archive of the classes a daemon loads from start to first answer.
#
#   lean-runtime.sh TARGET_DIR CLASSPATH     (run by Maven at prepare-package; CLASSPATH: the
#                                             distribution's runtime dependencies)
#
# Why the application's modules go inside the image: an application CDS archive made from a class
# path records the jars' absolute paths on Java 17, so it would hold only where the build put them;
# the classes of modules inside the image are archived relative to the image, which moves with the
# tarball. The launchers run `-m dev.adder.server/...` on this runtime. The Prometheus jars are
# automatic modules, which jlink refuses: they stay in lib/, and the launcher adds them with
# --module-path when the daemon is asked for --metrics.
#
# What it says goes to standard output, which Maven logs at INFO: `mvn -q` hides it; a failure is on
# standard error, which Maven shows as an ERROR whatever its level.
#
# Without jmods in the build's JDK (Debian: the openjdk-17-jmods package) it says so and builds
# nothing; the tarball then runs on JAVA_HOME or the java on the PATH, from the class path.
set -euo pipefail
target=$1
classpath=$2
jdk=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
runtime=$target/runtime
rm -rf "$runtime" "$target/runtime-build"
if [ ! -d "$jdk/jmods" ]; then
  echo "adder-dist: $jdk has no jmods: no bundled runtime in the tarball (install openjdk-17-jmods for one)"
  exit 0
fi
work=$target/runtime-build
mkdir -p "$work/modules"
IFS=: read -r -a jars <<< "$classpath"
for jar in "${jars[@]}"; do
  case $(basename "$jar") in
    adder-*.jar | slf4j-api-*.jar | logback-*.jar) cp "$jar" "$work/modules/" ;;
  esac
done

# the JDK modules jdeps finds in the daemon's and the client's jars (jdeps --print-module-deps
# --ignore-missing-deps), java.naming for logback's configuration lookups among them
modules=java.base,java.logging,java.naming,java.xml,jdk.management,jdk.net,jdk.unsupported
# the JMX agent, which jconsole and `jcmd PID ManagementAgent.start_local` start in the daemon: without
# it the daemon's MBean could not be read from outside (loaded only when asked for)
modules=$modules,jdk.management.agent
# TLS: up to Java 21 the EC provider (ECDHE and X25519 key exchange, EC keys) is a module of its own
# that no jar names; without it a tls: listener offers only finite-field groups, and refuses clients
# that offer none (OpenSSL's socat among them) and every EC key. From Java 22 it is in java.base.
if [ -f "$jdk/jmods/jdk.crypto.ec.jmod" ]; then
  modules=$modules,jdk.crypto.ec
fi
modules=$modules,dev.adder.server,dev.adder.client,ch.qos.logback.classic
"$jdk/bin/jlink" --module-path "$jdk/jmods:$work/modules" --add-modules "$modules" \
    --strip-debug --no-header-files --no-man-pages --generate-cds-archive --output "$runtime"

# A training run: the daemon started as the launcher starts it (its default flags, jdk.unsupported
# added, so that the SIGHUP handler's classes are loaded too), one call from the client, SIGTERM; the
# classes it loaded are archived in place of jlink's archive of the JDK's own classes.
# If any step fails, jlink's archive stays, and the build says so.
flags=(-XX:+UseSerialGC -Xms8m -Xmx64m -XX:AutoBoxCacheMax=20000)
socket=$work/train.sock
daemon=
cleanup() { if [ -n "$daemon" ]; then kill -KILL "$daemon" 2>/dev/null || true; fi; }
trap cleanup EXIT
train() {
  "$runtime/bin/java" -XX:DumpLoadedClassList="$work/classlist" "${flags[@]}" --add-modules jdk.unsupported \
      -m dev.adder.server/dev.adder.server.daemon.Main --listen "unix:$socket" > "$work/train.log" 2>&1 &
  daemon=$!
  for _ in $(seq 1 200); do [ -S "$socket" ] && break; sleep 0.05; done
  [ "$("$runtime/bin/java" -m dev.adder.client/dev.adder.client.cli.Main --connect "unix:$socket" 7 10)" = 17 ] || return 1
  kill -TERM "$daemon"
  wait "$daemon" || return 1
  daemon=
  "$runtime/bin/java" -Xshare:dump -XX:SharedClassListFile="$work/classlist" \
      -XX:SharedArchiveFile="$work/classes.jsa" "${flags[@]}" --add-modules jdk.unsupported \
      -m dev.adder.server/dev.adder.server.daemon.Main \
      > "$work/dump.log" 2>&1 || return 1
  chmod u+w "$runtime/lib/server/classes.jsa"
  mv "$work/classes.jsa" "$runtime/lib/server/classes.jsa"
  chmod a-w "$runtime/lib/server/classes.jsa"
}
if train; then
  echo "adder-dist: the runtime's CDS archive holds the $(wc -l < "$work/classlist") classes a daemon loads to its first answer"
else
  echo "adder-dist: the training run failed (see $work): the runtime keeps jlink's CDS archive of the JDK's classes"
fi
echo "adder-dist: bundled runtime $(du -sh "$runtime" | cut -f1) in $runtime"
