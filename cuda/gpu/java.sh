# Sourced by the GPU-machine scripts: unpacks the carried runtime once (to /tmp) and sets JAVA_BIN.
G=${G:-.gpu}
JRE_DIR=/tmp/starattn-jre
if [ ! -x $JRE_DIR/jre/bin/java ]; then
  mkdir -p $JRE_DIR && tar -C $JRE_DIR -xJf $G/jre.tar.xz
fi
JAVA_BIN=$JRE_DIR/jre/bin/java
# Classpath: the core/cuda jars, or else the shaded CLI jar (which holds them).
CP=$(ls $G/lib/*.jar 2>/dev/null | tr '\n' ':')
[ -n "$CP" ] || CP=$G/cli/starattn.jar
