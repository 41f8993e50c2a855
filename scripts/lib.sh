# Shell functions for scripts/quickstart.sh and scripts/conformance/run.sh, which each start a
# protond of their own and must leave nothing of it running. Sourced, not run.

# stop_server PID: SIGTERM, up to 5 seconds to stop, then SIGKILL.
stop_server() {
  local server_pid=$1
  [ -n "$server_pid" ] && kill -0 "$server_pid" 2> /dev/null || return 0
  kill -TERM "$server_pid" 2> /dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$server_pid" 2> /dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2> /dev/null || true
  wait "$server_pid" 2> /dev/null || true
}

# kill_marked NAME=VALUE: SIGKILL, by PID, every process but this shell whose environment holds
# exactly that variable. The scripts give their server a marker of their run; the deployment
# commands it starts (and anything they leave running) inherit it.
kill_marked() {
  local marker=$1 environ pid
  for environ in /proc/[0-9]*/environ; do
    pid=${environ#/proc/}
    pid=${pid%/environ}
    [ "$pid" = "$$" ] && continue
    if { tr '\0' '\n' < "$environ"; } 2> /dev/null | grep -qxF "$marker"; then
      kill -KILL "$pid" 2> /dev/null || true
    fi
  done
}
