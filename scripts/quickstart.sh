#!/usr/bin/env bash
# Performs the README's quick start with the real AWS CLI against a protond it starts itself,
# and checks every printed result. Builds nothing: it runs target/debug/protond (or
# $PROTOND_BIN) and .venv/bin/aws (or $AWS_CLI).
#
# The server listens on a free loopback port and keeps its data in a temporary directory; the
# example environment lives in a temporary PROTOND_EXAMPLE_ROOT. Every process the run starts
# (the server, the deployment commands it runs and the heartbeat they leave behind) is stopped
# by its PID on exit, also when a check fails.
#
# Prints one line per check and, last, "N passed, 0 failed". Stops at the first failure,
# printing what was expected and what came, and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

PROTOND_BIN=${PROTOND_BIN:-target/debug/protond}
AWS_CLI=${AWS_CLI:-.venv/bin/aws}
for tool in "$PROTOND_BIN" "$AWS_CLI"; do
  if [ ! -x "$tool" ]; then
    echo "quickstart: $tool is missing or not executable (build with 'cargo build -p protond';" \
      "the AWS CLI comes from 'scripts/test')" >&2
    exit 2
  fi
done
PROTOND_BIN=$(cd "$(dirname "$PROTOND_BIN")" && pwd)/$(basename "$PROTOND_BIN")
AWS_CLI=$(cd "$(dirname "$AWS_CLI")" && pwd)/$(basename "$AWS_CLI")

work=$(mktemp -d "${TMPDIR:-/tmp}/protond-quickstart.XXXXXX")
server_pid=""
passed=0


cleanup() {
  local status=$?
  stop_server "$server_pid"
  kill_marked "PROTOND_QUICKSTART_RUN=$work"
  if [ "$status" -eq 0 ]; then
    rm -rf "$work"
  else
    echo "quickstart: kept $work (server log: $work/server.log)" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ------------------------------------------------------------------------------

# fail WHAT EXPECTED GOT: reports a failed check and stops.
fail() {
  echo "FAIL $1" >&2
  echo "  expected: $2" >&2
  echo "  got:      $3" >&2
  echo "$passed passed, 1 failed"
  exit 1
}

# ok WHAT: counts a passed check and prints it.
ok() {
  passed=$((passed + 1))
  printf 'ok %2d %s\n' "$passed" "$1"
}

# check WHAT EXPECTED GOT
check() {
  if [ "$2" != "$3" ]; then
    fail "$1" "$2" "$3"
  fi
  ok "$1"
}

# field PATH: reads JSON on stdin and prints the value at PATH (dots; numbers index lists).
field() {
  python3 -c '
import json, sys
value = json.load(sys.stdin)
for part in sys.argv[1].split("."):
    if isinstance(value, list):
        value = value[int(part)]
    else:
        value = (value or {}).get(part)
print("" if value is None else value if isinstance(value, str) else json.dumps(value))
' "$1"
}

# The AWS CLI, always aimed at this run's server: the endpoint is passed on every call as well
# as exported, so no call can ever leave this machine.
aws() {
  "$AWS_CLI" --endpoint-url "$AWS_ENDPOINT_URL_PROTON" "$@"
}

# run WHAT COMMAND...: runs a command, which must succeed; its output goes to $out.
run() {
  local what=$1
  shift
  local status=0
  out=$("$@" 2>&1) || status=$?
  if [ "$status" -ne 0 ]; then
    fail "$what" "$* to succeed" "exit status $status with: $out"
  fi
}

now() { date +%s.%N; }
since() { python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.2f}")' "$1"; }

# --- the server ---------------------------------------------------------------------------

# The client side, as in the README: dummy credentials, a region, the endpoint. Nothing from
# the user's own AWS configuration is read, and no proxy stands between client and server.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL http_proxy HTTP_PROXY https_proxy \
  HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
export AWS_CONFIG_FILE="$work/aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/aws-credentials"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
export AWS_DEFAULT_OUTPUT=json
export PROTOND_DATA_DIR="$work/data" PROTOND_EXAMPLE_ROOT="$work/example"

# Port 0: the system picks a free port and the server logs which one. Deployment commands call
# the AWS CLI when it is on their PATH: put it there. The server and every process it starts
# (deployment shells, the heartbeat they leave) carry PROTOND_QUICKSTART_RUN, so that the
# clean-up finds exactly the processes of this run and nothing else.
start=$(now)
PATH="$(dirname "$AWS_CLI"):$PATH" PROTOND_LISTEN=127.0.0.1:0 PROTOND_LOG_FORMAT=json \
  PROTOND_QUICKSTART_RUN="$work" "$PROTOND_BIN" serve > "$work/server.log" 2>&1 &
server_pid=$!
address=""
for _ in $(seq 1 100); do
  address=$(python3 scripts/listening-address.py "$work/server.log" 2> /dev/null || true)
  [ -n "$address" ] && break
  kill -0 "$server_pid" 2> /dev/null || break
  sleep 0.1
done
[ -n "$address" ] || fail "server start" "a 'protond is listening' line" "$(cat "$work/server.log")"
case $address in
  127.0.0.1:*) ;;
  *) fail "server address" "127.0.0.1:PORT" "$address" ;;
esac
export AWS_ENDPOINT_URL_PROTON="http://$address"
ok "server listening on $AWS_ENDPOINT_URL_PROTON ($(since "$start")s)"

# --- the quick start, step by step --------------------------------------------------------

# 1. Push the example bundle into the local bundle store.
run "bundle push" "$PROTOND_BIN" bundle push examples/local-env s3://bundles/local-env.tar.gz
case $out in
  "pushed examples/local-env ("*" bytes) to s3://bundles/local-env.tar.gz") ok "bundle push: $out" ;;
  *) fail "bundle push" "pushed examples/local-env (N bytes) to s3://bundles/local-env.tar.gz" "$out" ;;
esac

# 2. The template, its first version, registration, publication.
run "create-environment-template" aws proton create-environment-template \
  --name local-env --display-name "Local environment"
check "create-environment-template: arn" \
  "arn:aws:proton:us-east-1:123456789012:environment-template/local-env" \
  "$(field environmentTemplate.arn <<< "$out")"

run "create-environment-template-version" aws proton create-environment-template-version \
  --template-name local-env --source s3='{bucket=bundles,key=local-env.tar.gz}'
check "create-environment-template-version: version 1.0" "1.0" \
  "$(field environmentTemplateVersion.majorVersion <<< "$out").$(field environmentTemplateVersion.minorVersion <<< "$out")"
check "create-environment-template-version: status" "REGISTRATION_IN_PROGRESS" \
  "$(field environmentTemplateVersion.status <<< "$out")"

start=$(now)
run "wait environment-template-version-registered" aws proton wait \
  environment-template-version-registered \
  --template-name local-env --major-version 1 --minor-version 0
check "wait environment-template-version-registered ($(since "$start")s): output" "" "$out"

run "update-environment-template-version" aws proton update-environment-template-version \
  --template-name local-env --major-version 1 --minor-version 0 --status PUBLISHED
check "update-environment-template-version: status" "PUBLISHED" \
  "$(field environmentTemplateVersion.status <<< "$out")"
check "update-environment-template-version: recommendedMinorVersion" "0" \
  "$(field environmentTemplateVersion.recommendedMinorVersion <<< "$out")"

# 3. The environment.
run "create-environment" aws proton create-environment \
  --name dev --template-name local-env --template-major-version 1 \
  --spec file://examples/local-env/spec.yaml
check "create-environment: status" "IN_PROGRESS" "$(field environment.deploymentStatus <<< "$out")"
first_deployment=$(field environment.lastAttemptedDeploymentId <<< "$out")

start=$(now)
run "wait environment-deployed" aws proton wait environment-deployed --name dev
check "wait environment-deployed ($(since "$start")s): output" "" "$out"

run "get-environment" aws proton get-environment --name dev
check "get-environment: status" "SUCCEEDED" "$(field environment.deploymentStatus <<< "$out")"
first_spec=$(field environment.spec <<< "$out")
check "get-environment: spec is spec.yaml" "$(cat examples/local-env/spec.yaml)" "$first_spec"

# 4. Outputs, and what the environment made.
run "list-environment-outputs" aws proton list-environment-outputs --environment-name dev
outputs=$(python3 -c '
import json, sys
outputs = json.load(sys.stdin)["outputs"]
print(" ".join(sorted(o["key"] + "=" + o.get("valueString", "") for o in outputs)))
' <<< "$out")
home="$PROTOND_EXAMPLE_ROOT/dev"
heartbeat_pid=$(cat "$home/heartbeat.pid" 2> /dev/null || echo "?")
check "list-environment-outputs" \
  "EnvironmentHome=$home Greeting=hello HeartbeatPid=$heartbeat_pid Workers=2" "$outputs"

check "environment files" "greeting heartbeat heartbeat.pid inputs.json worker-1 worker-2" \
  "$(cd "$home" 2> /dev/null && ls | tr '\n' ' ' | sed 's/ $//')"
beat=""
for _ in $(seq 1 50); do
  beat=$(cat "$home/heartbeat" 2> /dev/null || true)
  [ -n "$beat" ] && break
  sleep 0.1
done
check "heartbeat file written" "hello from dev" "$beat"

# 5. A slow update, cancelled while its commands run.
run "update-environment" aws proton update-environment \
  --name dev --deployment-type CURRENT_VERSION --spec file://examples/local-env/spec-slow.yaml
check "update-environment: status" "IN_PROGRESS" "$(field environment.deploymentStatus <<< "$out")"
check "update-environment: spec shown is still the deployed one" "$first_spec" \
  "$(field environment.spec <<< "$out")"
slow_deployment=$(field environment.lastAttemptedDeploymentId <<< "$out")

# The deployment's log shows when its commands run (the README's `cat` step).
run "get-environment lastAttemptedDeploymentId" aws proton get-environment --name dev \
  --query environment.lastAttemptedDeploymentId --output text
check "get-environment: lastAttemptedDeploymentId is the update's" "$slow_deployment" "$out"
log="$PROTOND_DATA_DIR/deployments/$out.log"
for _ in $(seq 1 100); do
  grep -q "workers=3" "$log" 2> /dev/null && break
  sleep 0.1
done
check "deployment log: provisioning runs" \
  "provisioning dev in $home: workers=3" \
  "$(grep -m1 "workers=3" "$log" 2> /dev/null || echo "(no such line in $log)")"

run "cancel-environment-deployment" aws proton cancel-environment-deployment --environment-name dev
cancel_returned=$(now)
check "cancel-environment-deployment: status" "CANCELLING" \
  "$(field environment.deploymentStatus <<< "$out")"

# Polls GetEnvironment every 0.1 s, with an unsigned request (local development mode takes
# it), to time the cancel from the moment the CLI call returned.
cancel_end=$(python3 - "$AWS_ENDPOINT_URL_PROTON" "$cancel_returned" << 'PY'
import json, sys, time, urllib.request
endpoint, returned = sys.argv[1], float(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.time() + 120
while True:
    request = urllib.request.Request(
        endpoint + "/",
        data=b'{"name": "dev"}',
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AwsProton20200720.GetEnvironment",
        },
    )
    status = json.load(opener.open(request, timeout=10))["environment"]["deploymentStatus"]
    if status != "CANCELLING" or time.time() > deadline:
        print(f"{status} {time.time() - returned:.2f}")
        break
    time.sleep(0.1)
PY
)
cancel_status=${cancel_end% *}
cancel_seconds=${cancel_end#* }
check "cancel: CANCELLED observed ${cancel_seconds}s after the cancel call returned" \
  "CANCELLED" "$cancel_status"

run "get-environment after cancel" aws proton get-environment --name dev
check "get-environment after cancel: status" "CANCELLED" \
  "$(field environment.deploymentStatus <<< "$out")"
check "get-environment after cancel: message" "User initiated cancellation." \
  "$(field environment.deploymentStatusMessage <<< "$out")"
check "get-environment after cancel: spec is the first spec again" "$first_spec" \
  "$(field environment.spec <<< "$out")"
check "environment files after cancel (restored)" \
  "greeting heartbeat heartbeat.pid inputs.json worker-1 worker-2" \
  "$(cd "$home" 2> /dev/null && ls | tr '\n' ' ' | sed 's/ $//')"
sleep 1.2 # the heartbeat rewrites its file every second
check "heartbeat after cancel" "hello from dev" "$(cat "$home/heartbeat" 2> /dev/null || true)"

# 6. The deployments.
run "list-deployments" aws proton list-deployments --environment-name dev
check "list-deployments: newest first" \
  "$slow_deployment CANCELLED $first_deployment SUCCEEDED" \
  "$(python3 -c '
import json, sys
deployments = json.load(sys.stdin)["deployments"]
print(" ".join(d["id"] + " " + d["deploymentStatus"] for d in deployments))
' <<< "$out")"

run "get-deployment" aws proton get-deployment --id "$slow_deployment" --environment-name dev
check "get-deployment: targetState is spec-slow.yaml" "$(cat examples/local-env/spec-slow.yaml)" \
  "$(field deployment.targetState.environment.spec <<< "$out")"
check "get-deployment: initialState is spec.yaml" "$first_spec" \
  "$(field deployment.initialState.environment.spec <<< "$out")"

# 7. Deletion.
run "delete-environment" aws proton delete-environment --name dev
check "delete-environment: status" "DELETE_IN_PROGRESS" \
  "$(field environment.deploymentStatus <<< "$out")"
start=$(now)
gone=""
for _ in $(seq 1 60); do
  if out=$(aws proton get-environment --name dev 2>&1); then
    sleep 0.5
    continue
  fi
  gone=$out
  break
done
case $gone in
  *"(ResourceNotFoundException)"*"The environment dev does not exist."*)
    ok "environment gone after delete ($(since "$start")s): ResourceNotFoundException" ;;
  *) fail "environment gone after delete" "ResourceNotFoundException" "${gone:-$out}" ;;
esac
check "example folder removed" "absent" "$([ -e "$home" ] && echo present || echo absent)"
check "heartbeat process stopped" "stopped" \
  "$(kill -0 "$heartbeat_pid" 2> /dev/null && echo running || echo stopped)"

# 8. What is not implemented says so.
if out=$(aws proton list-services 2>&1); then
  fail "list-services" "a ValidationException" "$out"
fi
check "list-services: not implemented" \
  "An error occurred (ValidationException) when calling the ListServices operation: protond does not implement ListServices yet" \
  "$(grep -m1 'An error occurred' <<< "$out")"

echo "cancel: CANCELLED ${cancel_seconds}s after the cancel call returned"
echo "$passed passed, 0 failed"
