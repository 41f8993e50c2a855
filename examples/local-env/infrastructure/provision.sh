#!/bin/sh
# Provisions a "local environment": a folder of files and a heartbeat process, under
# $PROTOND_EXAMPLE_ROOT (default /tmp/protond-example). Reads proton-inputs.json, reports
# outputs through proton-outputs.json and, when the AWS CLI is installed, through
# `aws proton notify-resource-deployment-status-change` as well.
set -eu

input() {
  python3 -c 'import json, sys; print(json.load(open("proton-inputs.json"))["environment"]'"$1"')'
}

name=$(input '["name"]')
greeting=$(input '["inputs"]["greeting"]')
workers=$(input '["inputs"]["workers"]')
wait_seconds=$(input '["inputs"]["provision_seconds"]')
root=${PROTOND_EXAMPLE_ROOT:-/tmp/protond-example}
home="$root/$name"
mkdir -p "$home"

echo "provisioning $name in $home: greeting=$greeting workers=$workers"
sleep "$wait_seconds"

# Files first: the environment's configuration and one file per worker.
cp proton-inputs.json "$home/inputs.json"
rm -f "$home"/worker-*
i=1
while [ "$i" -le "$workers" ]; do
  echo "worker $i of $name" > "$home/worker-$i"
  i=$((i + 1))
done

# Then the process: replace any heartbeat left by an earlier deployment. setsid puts it in a
# session of its own, so it outlives the deployment's commands.
if [ -f "$home/heartbeat.pid" ]; then
  kill "$(cat "$home/heartbeat.pid")" 2>/dev/null || true
fi
setsid sh -c "while true; do echo \"$greeting from $name\" > '$home/heartbeat'; sleep 1; done" \
  > /dev/null 2>&1 < /dev/null &
echo $! > "$home/heartbeat.pid"

cat > proton-outputs.json <<JSON
{"EnvironmentHome": "$home", "Greeting": "$greeting", "Workers": "$workers"}
JSON

if command -v aws > /dev/null 2>&1; then
  aws proton notify-resource-deployment-status-change \
    --resource-arn "$RESOURCE_ARN" \
    --outputs "key=HeartbeatPid,valueString=$(cat "$home/heartbeat.pid")"
fi
echo "provisioned $name"
