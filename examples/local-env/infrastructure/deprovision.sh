#!/bin/sh
# Tears down what provision.sh made: stops the heartbeat and removes the folder.
set -eu

name=$(python3 -c 'import json; print(json.load(open("proton-inputs.json"))["environment"]["name"])')
root=${PROTOND_EXAMPLE_ROOT:-/tmp/protond-example}
home="$root/$name"

if [ -f "$home/heartbeat.pid" ]; then
  kill "$(cat "$home/heartbeat.pid")" 2>/dev/null || true
fi
rm -rf "$home"
echo "deprovisioned $name"
