#!/usr/bin/env bash
# Builds the launcher's AOT cache: one short `generate` on the shipped tiny model (star attention over
# four in-process hosts, a prompt long enough for the batched prefill kernels), run with
# -XX:AOTCacheOutput so that the JVM records what it loads, links and profiles and writes the cache.
#   tools/aot-train.sh JAVA JAR CACHE JVM_FLAGS...
# Bounded in time (STARATTN_AOT_TIMEOUT seconds, default 180); its output goes to CACHE.log. Exit 0
# only when the cache was written.
set -uo pipefail
java=$1 jar=$2 cache=$3; shift 3
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="$here/models/starattn-tiny-q8_0.gguf"
[ -f "$model" ] || exit 1
context="$(for i in $(seq 1 40); do printf 'Line %d: the quick brown fox jumps over the lazy dog near the river bank. ' "$i"; done)"
echo "starattn: preparing the start-up cache (once per build, at most ${STARATTN_AOT_TIMEOUT:-180} s; STARATTN_AOT=0 skips it)..." >&2
# Written under a name of its own and moved in place: a launcher started meanwhile never maps half a file.
tmp="$cache.$$.tmp"
timeout "${STARATTN_AOT_TIMEOUT:-180}" "$java" "$@" -XX:AOTCacheOutput="$tmp" -Dstarattn.home="$here" -jar "$jar" \
  generate -m "$model" --context "$context" --query "What jumps over the dog?" -n 8 >"$cache.log" 2>&1 </dev/null
rc=$?
rm -f "$tmp.config"
if [ "$rc" = 0 ] && [ -s "$tmp" ]; then mv -f "$tmp" "$cache"; else rm -f "$tmp"; exit 1; fi
