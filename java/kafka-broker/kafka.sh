#!/usr/bin/env bash
# Run a real Apache Kafka 4.4.0 KRaft broker from Maven jars, for tests. Needs only java (17+),
# mvn (for `fetch`, once) and coreutils; binds only 127.0.0.1 (or $KAFKA_HOST).
#
#   kafka.sh fetch                                  resolve jars into $KAFKA_LIBS (no-op when the
#                                                   pom's hash matches the stamp there)
#   kafka.sh start <dir> <port> [node-id] [controller-port]
#                                                   fresh single combined broker+controller node:
#                                                   formats <dir>/data, starts in the background,
#                                                   <dir>/kafka.pid, <dir>/kafka.log; waits until it
#                                                   answers; prints the start time in ms
#   kafka.sh start-cluster <dir> <base-port> [n=3]  n combined nodes (node ids 1..n, n-voter quorum),
#                                                   broker ports base..base+n-1, controller ports
#                                                   base+n..base+2n-1, RF defaults min(n,3); node i
#                                                   lives in <dir>/node<i>
#   kafka.sh restart <node-dir> <port>              start a stopped or killed node again from its
#                                                   existing data and config; waits until it answers
#   kafka.sh stop <dir>                             SIGTERM <dir>/kafka.pid and <dir>/node*/kafka.pid,
#                                                   SIGKILL after $KAFKA_STOP_TIMEOUT s (default 15)
#   kafka.sh tool <main-class> [args...]            run any class on the Kafka classpath, e.g.
#                                                   org.apache.kafka.tools.TopicCommand
#   kafka.sh classpath                              print the classpath (libs/*)
#
# Environment:
#   STREAMS_CACHE        cache root (default $HOME/.cache/streams); jars go to
#                        $STREAMS_CACHE/kafka/4.4.0/libs (override with KAFKA_LIBS)
#   JAVA                 java binary (default $JAVA_HOME/bin/java, else java on PATH)
#   KAFKA_HEAP_OPTS      broker heap (default -Xms64m -Xmx256m)
#   KAFKA_JVM_OPTS       other broker JVM flags (default: serial GC, C1 only, small code cache)
#   KAFKA_CDS            1 (default): the first broker run records an AppCDS archive when it is
#                        stopped (kafka.sh stop), later starts load it (~0.7 s faster); 0: off
#   KAFKA_EXTRA_CONFIG   extra server.properties lines, appended last (so they win), e.g.
#                        $'group.consumer.min.session.timeout.ms=6000\ngroup.consumer.session.timeout.ms=6000'
#   KAFKA_OFFSETS_PARTITIONS / KAFKA_TXN_PARTITIONS
#                        __consumer_offsets / __transaction_state partitions (default 10, not 50)
#   KAFKA_START_TIMEOUT  seconds to wait for a broker to answer (default 120)
#   KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 15)
#   KAFKA_LOG_LEVEL      broker root log level (default INFO)
#   KAFKA_HOST           start/start-cluster: the IPv4 address every listener binds and
#                        advertises (default 127.0.0.1), e.g. a bridge's address that network
#                        namespaces reach; restart takes it from the node's server.properties
#   KAFKA_WATCH_PID      start/start-cluster/restart: a watchdog stops the broker(s) when this
#                        process exits (test binaries that cannot stop them themselves)
set -euo pipefail

KAFKA_VERSION=4.4.0
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM=$HERE/pom.xml
STREAMS_CACHE=${STREAMS_CACHE:-$HOME/.cache/streams}
KAFKA_LIBS=${KAFKA_LIBS:-$STREAMS_CACHE/kafka/$KAFKA_VERSION/libs}
if [ -z "${JAVA:-}" ]; then
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then JAVA=$JAVA_HOME/bin/java; else JAVA=java; fi
fi
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms64m -Xmx256m}
# C1 only (TieredStopAtLevel=1): ~25% faster start and less CPU on a 2-core box; unset it (set
# KAFKA_JVM_OPTS) for throughput tests.
KAFKA_JVM_OPTS=${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=64m -XX:MaxMetaspaceSize=128m -Xss512k -Djava.awt.headless=true}
KAFKA_CDS=${KAFKA_CDS:-1}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-120}
KAFKA_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-15}
KAFKA_LOG_LEVEL=${KAFKA_LOG_LEVEL:-INFO}
KAFKA_HOST=${KAFKA_HOST:-127.0.0.1}

die() { echo "kafka.sh: $*" >&2; exit 1; }
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

pom_stamp() { echo "kafka $KAFKA_VERSION pom=$(sha256sum "$POM" | cut -c1-16)"; }

fetch() {
  local stamp; stamp=$(pom_stamp)
  if [ -f "$KAFKA_LIBS/.stamp" ] && [ "$(cat "$KAFKA_LIBS/.stamp")" = "$stamp" ] &&
     compgen -G "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (needed once to resolve the Kafka jars)"
  local tmp="$KAFKA_LIBS.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  echo "kafka.sh: resolving Kafka $KAFKA_VERSION jars into $KAFKA_LIBS" >&2
  if ! mvn -q -B -Dstyle.color=never -f "$POM" -DoutputDirectory="$tmp" dependency:copy-dependencies \
      >"$tmp.log" 2>&1; then
    cat "$tmp.log" >&2; rm -rf "$tmp" "$tmp.log"; die "mvn dependency:copy-dependencies failed"
  fi
  rm -f "$tmp.log"
  echo "$stamp" >"$tmp/.stamp"
  rm -rf "$KAFKA_LIBS"; mv "$tmp" "$KAFKA_LIBS"
}

need_libs() {
  compgen -G "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null || fetch
}

# log4j2 config for the tools (quiet, stderr) -- the broker gets its own per node.
tools_log4j() {
  local f=$KAFKA_LIBS/../log4j2-tools.properties
  if [ ! -f "$f" ]; then
    cat >"$f" <<'EOF'
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = STDERR
EOF
  fi
  echo "$f"
}

tool() {
  [ $# -ge 1 ] || die "usage: kafka.sh tool <main-class> [args...]"
  need_libs
  # shellcheck disable=SC2046
  exec "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 $(tool_cds) \
    -Dlog4j2.configurationFile="$(tools_log4j)" -cp "$KAFKA_LIBS/*" "$@"
}

# A random cluster id as Uuid.randomUuid() makes it: 16 random bytes, url-safe base64, no padding,
# never starting with '-' (the tools would take it for a flag).
random_uuid() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [ "${id:0:1}" != "-" ] && [ "${#id}" = 22 ] && { echo "$id"; return; }
  done
}

port_open() { (exec 3<>"/dev/tcp/$KAFKA_HOST/$1") 2>/dev/null; }

# Sends a raw ApiVersions v0 request and checks the reply (correlation id 7, error code 0): the
# broker's data-plane listener is up and serving requests. No JVM needed.
api_versions_ok() {
  local resp
  resp=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/$2/$1" || exit 1
    printf "\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x07\xff\xff" >&3
    head -c 10 <&3 | od -An -tx1 | tr -d " \n"' _ "$1" "$KAFKA_HOST" 2>/dev/null) || return 1
  [ "${resp:8:12}" = "000000070000" ]
}

alive() { [ -f "$1/kafka.pid" ] && kill -0 "$(cat "$1/kafka.pid")" 2>/dev/null; }

# write_config <node-dir> <node-id> <port> <cport> <quorum-line> <rf> <min-isr>
write_config() {
  local d=$1 id=$2 port=$3 cport=$4 quorum=$5 rf=$6 misr=$7
  cat >"$d/server.properties" <<EOF
# generated by kafka.sh -- KRaft combined broker+controller for tests
process.roles=broker,controller
node.id=$id
$quorum
listeners=PLAINTEXT://$KAFKA_HOST:$port,CONTROLLER://$KAFKA_HOST:$cport
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$port,CONTROLLER://$KAFKA_HOST:$cport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$d/data

num.partitions=1
auto.create.topics.enable=true
delete.topic.enable=true
default.replication.factor=$rf
min.insync.replicas=$misr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=${KAFKA_OFFSETS_PARTITIONS:-10}
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$misr
transaction.state.log.num.partitions=${KAFKA_TXN_PARTITIONS:-10}
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$misr
group.initial.rebalance.delay.ms=0
# group.coordinator.rebalance.protocols defaults to classic,consumer,streams in 4.4 (KIP-848 and
# KIP-1071 on) and is deprecated: setting it only logs warnings.

# small machine: fewer threads
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
EOF
  if [ -n "${KAFKA_EXTRA_CONFIG:-}" ]; then
    printf '\n# KAFKA_EXTRA_CONFIG\n%s\n' "$KAFKA_EXTRA_CONFIG" >>"$d/server.properties"
  fi
  cat >"$d/log4j2.properties" <<EOF
status = error
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = $KAFKA_LOG_LEVEL
rootLogger.appenderRef.out.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.statechange.name = state.change.logger
logger.statechange.level = warn
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = warn
EOF
}

format_node() { # <node-dir> <cluster-id> [format flags...]
  local d=$1 cid=$2; shift 2
  # shellcheck disable=SC2046
  "$JAVA" -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 $(tool_cds) \
    -Dlog4j2.configurationFile="$(tools_log4j)" -cp "$KAFKA_LIBS/*" \
    kafka.tools.StorageTool format -t "$cid" -c "$d/server.properties" "$@" >"$d/format.log" 2>&1 ||
    { cat "$d/format.log" >&2; die "storage format failed for $d"; }
}

# AppCDS archive of the broker's classes, keyed on the java binary, the jars and the JVM flags.
cds_archive() {
  local key
  key=$( { readlink -f "$(command -v "$JAVA")"; cat "$KAFKA_LIBS/.stamp" 2>/dev/null; echo "$KAFKA_JVM_OPTS"; } | sha256sum | cut -c1-16)
  echo "$KAFKA_LIBS/../cds/broker-$key.jsa"
}

# Tool JVMs reuse the broker's archive when there is one (same classpath; silently off otherwise).
tool_cds() {
  [ "$KAFKA_CDS" = 1 ] || return 0
  local a; a=$(cds_archive)
  [ -s "$a" ] && echo "-XX:SharedArchiveFile=$a -Xlog:cds=off -Xlog:cds+dynamic=off"
  return 0
}

launch_node() { # <node-dir>
  local d=$1 launcher=() cds=()
  command -v setsid >/dev/null && launcher=(setsid)
  rm -f "$d/cds.pending" "$d/broker.jsa"
  if [ "$KAFKA_CDS" = 1 ]; then
    local a; a=$(cds_archive)
    if [ -s "$a" ]; then
      cds=(-XX:SharedArchiveFile="$a" -Xlog:cds=off -Xlog:cds+dynamic=off)
    else # dumped when this JVM exits normally; `stop` moves it into the cache
      cds=(-XX:ArchiveClassesAtExit="$d/broker.jsa" -Xlog:cds=off -Xlog:cds+dynamic=off)
      echo "$a" >"$d/cds.pending"
    fi
  fi
  # shellcheck disable=SC2086
  "${launcher[@]}" "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS "${cds[@]+"${cds[@]}"}" \
    -Xlog:gc,safepoint:file="$d/jvm.log":time,uptime:filecount=2,filesize=20m \
    -Dlog4j2.configurationFile="$d/log4j2.properties" -Dkafka.logs.dir="$d" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$d/server.properties" >"$d/kafka.log" 2>&1 </dev/null &
  echo $! >"$d/kafka.pid"
}

# wait_nodes <deadline-ms> <dir:port>... -- each node's log says it started (the broker is
# unfenced) and its listener answers ApiVersions.
wait_nodes() {
  local deadline=$1; shift
  local pending=("$@") still d port
  while [ ${#pending[@]} -gt 0 ]; do
    still=()
    for np in "${pending[@]}"; do
      d=${np%:*}; port=${np##*:}
      if ! alive "$d"; then
        tail -n 40 "$d/kafka.log" >&2; die "broker in $d exited during startup (log: $d/kafka.log)"
      fi
      if grep -q 'Kafka Server started' "$d/kafka.log" && api_versions_ok "$port"; then :; else still+=("$np"); fi
    done
    pending=("${still[@]+"${still[@]}"}")
    [ ${#pending[@]} -eq 0 ] && break
    if [ "$(now_ms)" -gt "$deadline" ]; then
      for np in "${pending[@]}"; do tail -n 20 "${np%:*}/kafka.log" >&2; done
      die "timed out waiting for: ${pending[*]}"
    fi
    sleep 0.2
  done
}

prepare_dir() { # <node-dir> <port> <cport>
  local d=$1
  mkdir -p "$d"
  alive "$d" && die "a broker is already running from $d (pid $(cat "$d/kafka.pid")); stop it first"
  local p; for p in "$2" "$3"; do port_open "$p" && die "port $p on $KAFKA_HOST is already in use"; done
  rm -rf "$d/data" "$d/kafka.pid" "$d/kafka.log" "$d/format.log"
}

start() {
  [ $# -ge 2 ] || die "usage: kafka.sh start <dir> <port> [node-id] [controller-port]"
  local dir port id cport t0 cid
  mkdir -p "$1"; dir=$(cd "$1" && pwd); port=$2; id=${3:-1}; cport=${4:-$((port + 1))}
  need_libs
  t0=$(now_ms)
  prepare_dir "$dir" "$port" "$cport"
  write_config "$dir" "$id" "$port" "$cport" "controller.quorum.bootstrap.servers=$KAFKA_HOST:$cport" 1 1
  cid=$(random_uuid)
  format_node "$dir" "$cid" --standalone
  launch_node "$dir"
  wait_nodes $((t0 + KAFKA_START_TIMEOUT * 1000)) "$dir:$port"
  echo "$KAFKA_HOST:$port" >"$dir/bootstrap"
  echo "kafka $KAFKA_VERSION started: node $id pid $(cat "$dir/kafka.pid") bootstrap $KAFKA_HOST:$port controller $KAFKA_HOST:$cport cluster $cid in $(($(now_ms) - t0)) ms"
}

start_cluster() {
  [ $# -ge 2 ] || die "usage: kafka.sh start-cluster <dir> <base-port> [n=3]"
  local dir base n i t0 cid voters="" bootstrap="" rf misr waits=()
  mkdir -p "$1"; dir=$(cd "$1" && pwd); base=$2; n=${3:-3}
  [ "$n" -ge 1 ] || die "n must be >= 1"
  rf=$((n < 3 ? n : 3)); misr=$((rf > 1 ? rf - 1 : 1))
  need_libs
  t0=$(now_ms)
  for ((i = 1; i <= n; i++)); do
    voters+="${voters:+,}$i@$KAFKA_HOST:$((base + n + i - 1))"
    bootstrap+="${bootstrap:+,}$KAFKA_HOST:$((base + i - 1))"
  done
  cid=$(random_uuid)
  for ((i = 1; i <= n; i++)); do
    prepare_dir "$dir/node$i" $((base + i - 1)) $((base + n + i - 1))
    # static quorum (kraft.version 0): every node knows all voters up front
    write_config "$dir/node$i" "$i" $((base + i - 1)) $((base + n + i - 1)) "controller.quorum.voters=$voters" "$rf" "$misr"
  done
  local fpids=()
  for ((i = 1; i <= n; i++)); do format_node "$dir/node$i" "$cid" & fpids+=($!); done
  for i in "${fpids[@]}"; do wait "$i" || die "storage format failed"; done
  for ((i = 1; i <= n; i++)); do launch_node "$dir/node$i"; waits+=("$dir/node$i:$((base + i - 1))"); done
  wait_nodes $((t0 + KAFKA_START_TIMEOUT * 1000)) "${waits[@]}"
  echo "$bootstrap" >"$dir/bootstrap"
  echo "kafka $KAFKA_VERSION cluster started: $n nodes bootstrap $bootstrap voters $voters cluster $cid in $(($(now_ms) - t0)) ms"
}

stop() {
  [ $# -ge 1 ] || die "usage: kafka.sh stop <dir>"
  local dir=$1 pids=() f pid deadline
  for f in "$dir/kafka.pid" "$dir"/node*/kafka.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    rm -f "$f"
  done
  [ ${#pids[@]} -gt 0 ] || { echo "kafka.sh: nothing running in $dir" >&2; return 0; }
  deadline=$(($(now_ms) + KAFKA_STOP_TIMEOUT * 1000))
  while :; do
    local left=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
    [ ${#left[@]} -eq 0 ] && break
    if [ "$(now_ms)" -gt "$deadline" ]; then
      echo "kafka.sh: SIGKILL ${left[*]} after ${KAFKA_STOP_TIMEOUT}s" >&2
      kill -KILL "${left[@]}" 2>/dev/null || true
      sleep 0.2; break
    fi
    sleep 0.1
  done
  # keep the first AppCDS archive a stopped broker dumped
  local d target
  for d in "$dir" "$dir"/node*; do
    [ -f "$d/cds.pending" ] || continue
    target=$(cat "$d/cds.pending"); rm -f "$d/cds.pending"
    if [ -s "$d/broker.jsa" ] && [ ! -s "$target" ]; then
      mkdir -p "$(dirname "$target")"
      cp "$d/broker.jsa" "$target.tmp.$$" && mv "$target.tmp.$$" "$target"
    fi
    rm -f "$d/broker.jsa"
  done
  echo "kafka.sh: stopped ${pids[*]}"
}

# A detached watchdog: stops <dir>'s broker(s) once process <pid> has exited.
watch() { # <dir> <pid>
  local dir=$1 pid=$2 launcher=()
  command -v setsid >/dev/null && launcher=(setsid)
  "${launcher[@]}" bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec bash "$2" stop "$3"' \
    _ "$pid" "$HERE/kafka.sh" "$dir" >/dev/null 2>&1 </dev/null &
}

restart() {
  [ $# -ge 2 ] || die "usage: kafka.sh restart <node-dir> <port>"
  local d t0
  d=$(cd "$1" && pwd); t0=$(now_ms)
  [ -f "$d/server.properties" ] || die "$d holds no node (no server.properties)"
  alive "$d" && die "the node in $d is still running (pid $(cat "$d/kafka.pid"))"
  # where the node listens, for the readiness probe: the host of its first PLAINTEXT listener
  KAFKA_HOST=$(sed -n 's|^listeners=PLAINTEXT://\([^:,]*\):.*|\1|p' "$d/server.properties" | head -n 1)
  KAFKA_HOST=${KAFKA_HOST:-127.0.0.1}
  need_libs
  mv -f "$d/kafka.log" "$d/kafka.log.$t0" 2>/dev/null || true
  launch_node "$d"
  wait_nodes $((t0 + KAFKA_START_TIMEOUT * 1000)) "$d:$2"
  echo "kafka $KAFKA_VERSION node in $d restarted: pid $(cat "$d/kafka.pid") in $(($(now_ms) - t0)) ms"
}

cmd=${1:-}; [ $# -gt 0 ] && shift
if [ -n "${KAFKA_WATCH_PID:-}" ] && [ $# -ge 1 ]; then
  case "$cmd" in start | start-cluster) watch "$(mkdir -p "$1" && cd "$1" && pwd)" "$KAFKA_WATCH_PID" ;; esac
fi
case "$cmd" in
  fetch) fetch; echo "$KAFKA_LIBS" ;;
  start) start "$@" ;;
  start-cluster) start_cluster "$@" ;;
  restart) restart "$@" ;;
  stop) stop "$@" ;;
  tool) tool "$@" ;;
  classpath) need_libs; echo "$KAFKA_LIBS/*" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
