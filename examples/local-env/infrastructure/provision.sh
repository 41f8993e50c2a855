#!/bin/sh
# Provisions a "local environment": a folder of files and a heartbeat process, under
# $PROTOND_EXAMPLE_ROOT (default /tmp/protond-example). Reads proton-inputs.json, reports
# outputs through proton-outputs.json and, when the AWS CLI is installed, through
# `aws proton notify-resource-deployment-status-change` as well.
#
# Input values come from whoever writes the spec, so they are only ever written to files or
# passed as arguments, never pasted into shell code.
set -eu

input() {
  python3 -c 'import json, sys; print(json.load(open("proton-inputs.json"))["environment"]'"$1"')'
}

name=$(input '["name"]')
workers=$(input '["inputs"]["workers"]')
wait_seconds=$(input '["inputs"]["provision_seconds"]')
root=${PROTOND_EXAMPLE_ROOT:-/tmp/protond-example}
home="$root/$name"
mkdir -p "$home"

echo "provisioning $name in $home: workers=$workers"
sleep "$wait_seconds"

# Files first: the environment's configuration, its greeting and one file per worker.
cp proton-inputs.json "$home/inputs.json"
input '["inputs"]["greeting"]' > "$home/greeting"
rm -f "$home"/worker-*
i=1
while [ "$i" -le "$workers" ]; do
  echo "worker $i of $name" > "$home/worker-$i"
  i=$((i + 1))
done

# Then the process: replace any heartbeat left by an earlier deployment. setsid puts it in a
# session of its own, so it outlives the deployment's commands. The loop reads the greeting
# from its file and receives the folder as an argument.
if [ -f "$home/heartbeat.pid" ]; then
  kill "$(cat "$home/heartbeat.pid")" 2>/dev/null || true
fi
setsid sh -c 'while true; do printf "%s from %s\n" "$(cat "$1/greeting")" "$2" > "$1/heartbeat"
  sleep 1; done' heartbeat "$home" "$name" > /dev/null 2>&1 < /dev/null &
echo $! > "$home/heartbeat.pid"

python3 - "$home" <<'PY'
import json, sys
inputs = json.load(open("proton-inputs.json"))["environment"]["inputs"]
outputs = {
    "EnvironmentHome": sys.argv[1],
    "Greeting": inputs["greeting"],
    "Workers": str(inputs["workers"]),
}
json.dump(outputs, open("proton-outputs.json", "w"))
PY

if command -v aws > /dev/null 2>&1; then
  aws proton notify-resource-deployment-status-change \
    --resource-arn "$RESOURCE_ARN" \
    --outputs "key=HeartbeatPid,valueString=$(cat "$home/heartbeat.pid")"
fi
echo "provisioned $name"
