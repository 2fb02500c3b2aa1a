#!/usr/bin/env bash
# The stand-in's entrypoint, with the official flink image's contract: the commands `jobmanager` and `taskmanager`
# (anything else is run as given), FLINK_PROPERTIES appended to the configuration, JOB_MANAGER_RPC_ADDRESS and
# TASK_MANAGER_NUMBER_OF_TASK_SLOTS, ENABLE_BUILT_IN_PLUGINS (jars of /opt/flink/opt linked into plugins/), and the
# processes run as user flink (uid 9999) in the foreground. Without Flink's distribution (not on Maven Central) there
# are no bin/jobmanager.sh and bin/taskmanager.sh: this starts the same entry classes, and Flink's own BashJavaUtils
# (in flink-runtime, what those scripts call) derives each JVM's memory flags from the configuration, as there.
set -euo pipefail
FLINK_HOME=/opt/flink
CONF_DIR="$FLINK_HOME/conf"
CONF_FILE="$CONF_DIR/flink-conf.yaml"

drop_privs() { if [[ "$(id -u)" == 0 ]]; then exec gosu flink "$@"; else exec "$@"; fi; }

set_option() { # key value: replace the key's line, or add one
  local escaped; escaped="$(printf '%s' "$1" | sed -e 's/[.]/\\./g')"
  if grep -q -E "^${escaped}:" "$CONF_FILE"; then
    sed -i -e "s|^${escaped}:.*|$1: $2|" "$CONF_FILE"
  else
    printf '%s: %s\n' "$1" "$2" >> "$CONF_FILE"
  fi
}

prepare_configuration() {
  cp "$FLINK_HOME/conf-default/flink-conf.yaml" "$CONF_FILE"
  set_option jobmanager.rpc.address "${JOB_MANAGER_RPC_ADDRESS:-$(hostname -f)}"
  if [[ -n "${TASK_MANAGER_NUMBER_OF_TASK_SLOTS:-}" ]]; then
    set_option taskmanager.numberOfTaskSlots "$TASK_MANAGER_NUMBER_OF_TASK_SLOTS"
  fi
  if [[ -n "${FLINK_PROPERTIES:-}" ]]; then
    printf '%s\n' "$FLINK_PROPERTIES" >> "$CONF_FILE"
  fi
}

# As the official image: each name in ENABLE_BUILT_IN_PLUGINS (separated by ;) is a jar of opt/, linked into its own
# plugins/ folder, where Flink loads it in a class loader of its own. A version of the same artifact other than the
# one named stands in for it, saying so (this machine's Maven mirror does not serve every release).
enable_built_in_plugins() {
  local jar name found
  for jar in $(tr ';' ' ' <<< "${ENABLE_BUILT_IN_PLUGINS:-}"); do
    name="${jar%.jar}"
    found="$FLINK_HOME/opt/$jar"
    if [[ ! -e "$found" ]]; then
      found="$(ls "$FLINK_HOME/opt/${name%-*}"-*.jar 2>/dev/null | head -n1 || true)"
      [[ -n "$found" ]] || { echo "Plugin $jar does not exist in $FLINK_HOME/opt. Exiting." >&2; exit 1; }
      echo "stand-in: $jar is not in this image; enabling $(basename "$found") in its place"
    fi
    mkdir -p "$FLINK_HOME/plugins/$name"
    ln -fs "$found" "$FLINK_HOME/plugins/$name/"
    echo "Linked $(basename "$found") to the plugin directory plugins/$name"
  done
}

# The last value of a key in the configuration (FLINK_PROPERTIES' lines come last and win, as in Flink).
option() { grep -E "^$1:" "$CONF_FILE" | tail -n1 | sed -e "s/^$1:[[:space:]]*//"; }

run() { # name entry-class BashJavaUtils-command
  local name="$1" class="$2" command="$3" result jvm dynamic
  result="$(java -Xmx64m -cp "$FLINK_HOME/lib/*" org.apache.flink.runtime.util.bash.BashJavaUtils "$command" \
    --configDir "$CONF_DIR" 2>&1)" || { echo "$result" >&2; exit 1; }
  jvm="$(grep '^BASH_JAVA_UTILS_EXEC_RESULT:' <<< "$result" | head -n1 | sed 's/^BASH_JAVA_UTILS_EXEC_RESULT://')"
  dynamic="$(grep '^BASH_JAVA_UTILS_EXEC_RESULT:' <<< "$result" | sed -n 2p | sed 's/^BASH_JAVA_UTILS_EXEC_RESULT://')"
  local log="$FLINK_HOME/log/flink--$name-$(hostname).log"
  echo "Starting $name ($class) with $jvm"
  # shellcheck disable=SC2046,SC2086  # the options are words by design, as in Flink's scripts
  drop_privs java $jvm $(option env.java.opts.all) $(option "env.java.opts.$name") \
    -Dlog.file="$log" -Dlog4j.configuration="file:$CONF_DIR/log4j-console.properties" \
    -Dlog4j.configurationFile="file:$CONF_DIR/log4j-console.properties" \
    -cp "$FLINK_HOME/lib/*" "$class" --configDir "$CONF_DIR" $dynamic "${@:4}"
}

case "${1:-help}" in
  jobmanager)
    shift; prepare_configuration; enable_built_in_plugins
    run jobmanager org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint GET_JM_RESOURCE_PARAMS \
      --executionMode cluster "$@" ;;
  taskmanager)
    shift; prepare_configuration; enable_built_in_plugins
    run taskmanager org.apache.flink.runtime.taskexecutor.TaskManagerRunner GET_TM_RESOURCE_PARAMS "$@" ;;
  help)
    echo "Usage: $(basename "$0") (jobmanager|taskmanager|help)"; exit 0 ;;
  *)
    prepare_configuration
    exec "$@" ;;
esac
