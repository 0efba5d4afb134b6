#!/usr/bin/env bash
# Builds the distribution's own Java runtime, when the build's JDK can: a jlink image of only the
# modules the daemon and the client need (target/runtime), with a class-data-sharing archive of
# those modules' classes. An application archive (AppCDS) is not made here: Java 17 records the
# class path's absolute paths in it, so it would hold only where the build put the jars.
#
#   lean-runtime.sh TARGET_DIR     (run by Maven at package time)
#
# Without jmods in the build's JDK (Debian: the openjdk-17-jmods package) it says so and builds
# nothing; the tarball then runs on JAVA_HOME or the java on the PATH.
set -euo pipefail
target=$1
jdk=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
runtime=$target/runtime
rm -rf "$runtime"
if [ ! -d "$jdk/jmods" ]; then
  echo "adder-dist: $jdk has no jmods: no bundled runtime in the tarball (install openjdk-17-jmods for one)" >&2
  exit 0
fi
# the modules jdeps finds in the daemon's and the client's jars (jdeps --print-module-deps
# --ignore-missing-deps), java.naming for logback's configuration lookups among them
modules=java.base,java.logging,java.naming,java.xml,jdk.httpserver,jdk.management,jdk.net,jdk.unsupported
"$jdk/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages \
    --generate-cds-archive --output "$runtime"

echo "adder-dist: bundled runtime $(du -sh "$runtime" | cut -f1) in $runtime" >&2
