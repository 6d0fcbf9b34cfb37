# Sourced by the GPU-machine scripts: unpacks the carried runtime once (to /tmp) and sets JAVA_BIN.
G=${G:-.gpu}
JRE_DIR=/tmp/starattn-jre
if [ ! -x $JRE_DIR/jre/bin/java ]; then
  mkdir -p $JRE_DIR && tar -C $JRE_DIR -xJf $G/jre.tar.xz
fi
JAVA_BIN=$JRE_DIR/jre/bin/java
# Classpath: the core/cuda/bench jars, or else the shaded CLI jar (which holds them).
CP=$(ls $G/lib/*.jar 2>/dev/null | tr '\n' ':')
[ -n "$CP" ] || CP=$G/cli/starattn.jar
# Kernels rebuilt on this machine (cuda/build-kernels.sh) come before the jars' copy.
[ -f cuda/src/main/resources/dev/starattn/cuda/kernels.fatbin ] && CP=cuda/src/main/resources:$CP
