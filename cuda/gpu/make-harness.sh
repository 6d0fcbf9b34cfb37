#!/usr/bin/env bash
# Builds .gpu/ for the GPU machine (which has no Java): a jlinked JRE, the core, cuda and bench jars
# (bench: CudaSelfCheck, the Cuda*Bench programs, CudnnProbe) with their dependencies, the shaded app
# jar, the transformers oracle script and run.sh. .gpu/ must be
# ignored (listed in .git/info/exclude) and named in the device tool's `carry`; then run
# `bash .gpu/run.sh` there. Keep the whole working tree under the tool's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/../.."
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
mvn -B -q -DskipTests install
rm -rf .gpu && mkdir -p .gpu/lib .gpu/cli
# The runtime travels as a tar.xz (the device tool carries at most 64 MiB with the working tree);
# .gpu/java.sh unpacks it on first use.
JRE=$(mktemp -d)/jre
"$JAVA_HOME/bin/jlink" --add-modules java.base,jdk.incubator.vector,java.logging,java.management,jdk.unsupported,java.desktop,java.naming,java.sql \
  --strip-debug --no-header-files --no-man-pages --output "$JRE"
tar -C "$(dirname "$JRE")" -cJf .gpu/jre.tar.xz jre
rm -rf "$(dirname "$JRE")"
# Either the shaded CLI jar (everything, and run.sh's `generate --device cuda` step) with WITH_CLI=1,
# or just the core, cuda and bench jars with Jackson and lz4-java (4 MB). The device tool carries 64 MiB with the working
# tree (about 20 MB) and the runtime (21 MB): the CLI jar is 33.6 MB with OpenBLAS's libraries, so
# they are dropped from the copy (21 MB; prefill then says it uses the Java kernel), with the
# protobuf definitions of Google's APIs that grpc's dependencies bring and nothing loads.
# WITH_CLI=lean also drops the network stacks (netty, jetty) and the Google API definitions (12 MB): generate and
# eval with in-process hosts still run, serve and remote hosts do not (run.sh: SERVE=0); it leaves room for a model
# bigger than the shipped one in the carry.
if [ "${WITH_CLI:-0}" = 1 ] || [ "${WITH_CLI:-0}" = lean ]; then
  cp app/target/starattn.jar .gpu/cli/
  zip -q -d .gpu/cli/starattn.jar 'org/bytedeco/openblas/linux-x86_64/*' 'google/*' 'META-INF/maven/*'
  # lz4-java's native libraries for other platforms (the GPU machine is linux-x86_64).
  zip -q -d .gpu/cli/starattn.jar 'net/jpountz/util/windows/*' 'net/jpountz/util/darwin/*' 'net/jpountz/util/linux/aarch64/*' \
    'net/jpountz/util/linux/i386/*' 'net/jpountz/util/linux/ppc64le/*' 'net/jpountz/util/linux/riscv64/*' 'net/jpountz/util/linux/s390x/*'
  if [ "$WITH_CLI" = lean ]; then
    zip -q -d .gpu/cli/starattn.jar 'io/netty/*' 'io/grpc/netty/*' 'org/eclipse/jetty/*' 'com/google/api/*' 'com/google/apps/*' \
      'com/google/cloud/*' 'com/google/rpc/*' 'com/google/type/*' 'com/google/longrunning/*' 'com/google/logging/*' \
      'com/google/geo/*' 'com/google/thirdparty/*' 'com/google/gson/*'
  fi
else
  cp core/target/starattn-core-*-SNAPSHOT.jar cuda/target/starattn-cuda-*-SNAPSHOT.jar bench/target/starattn-bench-*-SNAPSHOT.jar .gpu/lib/
  for a in jackson-databind jackson-core jackson-annotations; do
    cp "$(ls ~/.m2/repository/com/fasterxml/jackson/core/$a/2.21*/$a-2.21*.jar | grep -v sources | head -1)" .gpu/lib/
  done
  # core's model identity (ModelHash: xxHash64).
  cp "$(ls ~/.m2/repository/at/yawk/lz4/lz4-java/*/lz4-java-*.jar | grep -v sources | head -1)" .gpu/lib/
fi
cp cuda/gpu/hf_oracle.py cuda/gpu/run.sh cuda/gpu/java.sh .gpu/
du -sh .gpu
