#!/usr/bin/env bash
# A small harness for the GPU machine without `mvn install` (which would write the shared ~/.m2): packages the core,
# cuda and bench modules of this checkout and copies their jars, Jackson and lz4-java, a runtime and the GPU scripts
# into DEST (default .gpu; use an ignored folder such as /path/to/main/.gpu/NAME and carry it). Then, on the device:
#   G=.gpu/NAME bash .gpu/NAME/bench.sh million ...
# The runtime: $JRE_TAR (a tar.xz holding jre/, e.g. an earlier make-harness.sh's .gpu/jre.tar.xz), else a fresh jlink.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=${1:-.gpu}
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
mvn -B -q -o -DskipTests package -pl bench -am
rm -rf "$DEST" && mkdir -p "$DEST/lib"
cp core/target/starattn-core-*-SNAPSHOT.jar cuda/target/starattn-cuda-*-SNAPSHOT.jar bench/target/starattn-bench-*-SNAPSHOT.jar "$DEST/lib/"
for a in jackson-databind jackson-core jackson-annotations; do
  cp "$(ls ~/.m2/repository/com/fasterxml/jackson/core/$a/2.21*/$a-2.21*.jar | grep -v sources | head -1)" "$DEST/lib/"
done
cp "$(ls ~/.m2/repository/at/yawk/lz4/lz4-java/*/lz4-java-*.jar | grep -v sources | head -1)" "$DEST/lib/"
if [ -n "${JRE_TAR:-}" ]; then
  cp "$JRE_TAR" "$DEST/jre.tar.xz"
else
  JRE=$(mktemp -d)/jre
  "$JAVA_HOME/bin/jlink" --add-modules java.base,jdk.incubator.vector,java.logging,java.management,jdk.unsupported,java.desktop,java.naming,java.sql \
    --strip-debug --no-header-files --no-man-pages --output "$JRE"
  tar -C "$(dirname "$JRE")" -cJf "$DEST/jre.tar.xz" jre
  rm -rf "$(dirname "$JRE")"
fi
cp cuda/gpu/bench.sh cuda/gpu/java.sh "$DEST/"
du -sh "$DEST"
