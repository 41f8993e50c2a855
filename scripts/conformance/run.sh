#!/usr/bin/env bash
# The four-client conformance suite (issue 3, item 5). Starts one protond with SigV4
# verification on (two access keys, one per account), pushes the gated test bundle, then runs
# the same lifecycle with four real clients, each under its own template and environment names
# so that they share the server:
#
#   cli    the AWS CLI v1 from PyPI (.venv/bin/aws), driven by cli.sh
#   boto3  boto3 from PyPI (.venv/bin/python), boto3_conformance.py
#   js     @aws-sdk/client-proton on Node.js (node --test), js/conformance.test.mjs
#   rust   the AWS SDK for Rust, crates/protond/examples/conformance.rs
#
# Every client is given the loopback endpoint explicitly and static credentials; nothing reads
# the user's AWS configuration. Each client prints its own "N passed, M failed" line; the last
# line of this script is the sum ("N passed, 0 failed" when everything passed), and the exit
# status is non-zero on any failure.
#
# Needs target/debug/protond (or $PROTOND_BIN; this script runs `cargo build -p protond` for the
# binary and the Rust example unless CONFORMANCE_NO_BUILD=1), .venv with the AWS CLI and boto3
# (created by scripts/test), jq, Node.js 20+ and npm (the npm packages are installed here from
# package-lock.json when missing). CONFORMANCE_CLIENTS="cli boto3" runs only some clients.
#
# Every process the run starts (the server, the deployment commands it runs, the clients) is
# stopped by its PID on exit, also when a check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
here=$root/scripts/conformance
. "$root/scripts/lib.sh"

clients=${CONFORMANCE_CLIENTS:-cli boto3 js rust}
PROTOND_BIN=${PROTOND_BIN:-target/debug/protond}
PYTHON=${CONFORMANCE_PYTHON:-.venv/bin/python}
AWS_CLI=${AWS_CLI:-.venv/bin/aws}

say() { echo "conformance: $*"; }
die() {
  echo "conformance: $*" >&2
  echo "0 passed, 1 failed"
  exit 2
}

# --- what the clients need -----------------------------------------------------------------

suite_start=$(date +%s.%N)
elapsed() { "$PYTHON" -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1"; }

for tool in "$PYTHON" "$AWS_CLI"; do
  [ -x "$tool" ] || die "$tool is missing (scripts/test creates .venv with the AWS CLI and boto3)"
done
if [ "${CONFORMANCE_NO_BUILD:-0}" != 1 ]; then
  build=(cargo build --quiet -p protond --bin protond)
  case " $clients " in *" rust "*) build+=(--example conformance) ;; esac
  say "building: ${build[*]}"
  "${build[@]}" || die "the build failed"
fi
[ -x "$PROTOND_BIN" ] || die "$PROTOND_BIN is missing (cargo build -p protond)"
PROTOND_BIN=$(cd "$(dirname "$PROTOND_BIN")" && pwd)/$(basename "$PROTOND_BIN")
case " $clients " in
  *" cli "*) command -v jq > /dev/null || die "jq is missing (cli.sh reads the CLI's JSON with it)" ;;
esac
case " $clients " in
  *" rust "*)
    [ -x target/debug/examples/conformance ] \
      || die "target/debug/examples/conformance is missing (cargo build -p protond --example conformance)"
    ;;
esac
case " $clients " in
  *" js "*)
    command -v node > /dev/null || die "node is missing (Node.js 20 or later)"
    node_major=$(node -p 'process.versions.node.split(".")[0]')
    [ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old: 20 or later"
    wanted=$(node -p 'require(process.argv[1]).dependencies["@aws-sdk/client-proton"]' \
      "$here/js/package.json")
    have=$(node -p 'try { require(process.argv[1]).version } catch { "" }' \
      "$here/js/node_modules/@aws-sdk/client-proton/package.json")
    if [ "$have" != "$wanted" ]; then
      say "installing @aws-sdk/client-proton $wanted from package-lock.json (npm ci)"
      (cd "$here/js" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
    fi
    ;;
esac

# --- the server ---------------------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/protond-conformance.XXXXXX")
server_pid=""
client_pids=()

cleanup() {
  local status=$?
  local pid
  for pid in "${client_pids[@]}"; do
    kill -TERM "$pid" 2> /dev/null || true
  done
  stop_server "$server_pid"
  # The deployment commands the server started (and anything they left running) carry this
  # run's marker in their environment: stop exactly those, by PID.
  kill_marked "PROTOND_CONFORMANCE_RUN=$work"
  if [ "$status" -eq 0 ] && [ "${CONFORMANCE_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    echo "conformance: kept $work (server log: $work/server.log)" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Nothing from the user's AWS configuration reaches any client, no proxy stands between client
# and server, and no client may look for credentials on an instance metadata service.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_PROTON \
  AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_CA_BUNDLE http_proxy HTTP_PROXY https_proxy \
  HTTPS_PROXY all_proxy ALL_PROXY AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
  AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_DEFAULT_OUTPUT=json AWS_PAGER=""

# Two access keys, one per account, with fresh secrets for this run.
secret() { "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(30))'; }
export CONFORMANCE_A_KEY_ID=AKIDCONFORMANCEA CONFORMANCE_A_SECRET=$(secret)
export CONFORMANCE_A_ACCOUNT=111122223333
export CONFORMANCE_B_KEY_ID=AKIDCONFORMANCEB CONFORMANCE_B_SECRET=$(secret)
export CONFORMANCE_B_ACCOUNT=444455556666
export CONFORMANCE_REGION=us-east-1
cat > "$work/protond.toml" << EOF
# Written by scripts/conformance/run.sh: strict SigV4 verification with two accounts.
stop_grace_secs = 2

[[access_keys]]
access_key_id = "$CONFORMANCE_A_KEY_ID"
secret_access_key = "$CONFORMANCE_A_SECRET"
account_id = "$CONFORMANCE_A_ACCOUNT"

[[access_keys]]
access_key_id = "$CONFORMANCE_B_KEY_ID"
secret_access_key = "$CONFORMANCE_B_SECRET"
account_id = "$CONFORMANCE_B_ACCOUNT"
EOF

export PROTOND_DATA_DIR="$work/data"
start=$(date +%s.%N)
PROTOND_LISTEN=127.0.0.1:0 PROTOND_LOG_FORMAT=json PROTOND_CONFORMANCE_RUN="$work" \
  "$PROTOND_BIN" serve --config "$work/protond.toml" > "$work/server.log" 2>&1 &
server_pid=$!
address=""
for _ in $(seq 1 100); do
  address=$("$PYTHON" "$root/scripts/listening-address.py" "$work/server.log" 2> /dev/null || true)
  [ -n "$address" ] && break
  kill -0 "$server_pid" 2> /dev/null || break
  sleep 0.1
done
[ -n "$address" ] || die "the server did not start: $(cat "$work/server.log")"
case $address in
  127.0.0.1:*) ;;
  *) die "the server listens on $address, not on 127.0.0.1" ;;
esac
grep -q '"SigV4 verification is on"' "$work/server.log" \
  || die "the server did not turn SigV4 verification on: $(cat "$work/server.log")"
export CONFORMANCE_ENDPOINT="http://$address"
say "protond on $CONFORMANCE_ENDPOINT with SigV4 verification on, 2 keys ($(elapsed "$start")s)"

# The gated bundle: provisioning waits for a file named in the spec, so that a cancel always
# reaches a deployment whose commands run.
export CONFORMANCE_BUCKET=conformance CONFORMANCE_KEY=gated.tar.gz
"$PROTOND_BIN" bundle push crates/protond/tests/fixtures/gated \
  "s3://$CONFORMANCE_BUCKET/$CONFORMANCE_KEY" > "$work/push.log" 2>&1 \
  || die "bundle push failed: $(cat "$work/push.log")"
say "$(cat "$work/push.log")"

# --- the clients, side by side --------------------------------------------------------------

# Each client gets a folder of its own for the gated environment's files.
client_command() {
  case $1 in
    cli) echo "$here/cli.sh" ;;
    boto3) echo "$root/$PYTHON $here/boto3_conformance.py" ;;
    js) echo "node --test --test-reporter=spec --test-timeout=150000 $here/js/conformance.test.mjs" ;;
    rust) echo "$root/target/debug/examples/conformance" ;;
    *) die "unknown client $1 (cli, boto3, js, rust)" ;;
  esac
}

declare -A started
for client in $clients; do
  command=$(client_command "$client")
  mkdir -p "$work/clients/$client"
  started[$client]=$(date +%s.%N)
  # The clients' own processes carry the marker too, so that the clean-up finds them.
  (
    cd "$work/clients/$client"
    export CONFORMANCE_CLIENT=$client CONFORMANCE_WORK="$work/clients/$client" AWS_CLI="$root/$AWS_CLI"
    export PROTOND_CONFORMANCE_RUN="$work"
    status=0
    timeout 170 $command || status=$?
    date +%s.%N > "$work/$client.end"
    exit "$status"
  ) > "$work/$client.log" 2>&1 &
  client_pids+=("$!")
  eval "pid_$client=$!"
done

total_passed=0
total_failed=0
summary=()
for client in $clients; do
  pid_var=pid_$client
  status=0
  wait "${!pid_var}" || status=$?
  seconds=$("$PYTHON" -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' \
    "${started[$client]}" "$(cat "$work/$client.end" 2> /dev/null || date +%s.%N)")
  echo
  echo "=== $client ($seconds s, exit status $status) ==="
  cat "$work/$client.log"
  # The client's own count: the last "N passed, M failed" line it printed.
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/$client.log" | tail -n 1 || true)
  if [ -z "$line" ]; then
    passed=0 failed=1
    echo "conformance: $client printed no 'N passed, M failed' line: counted as 1 failed"
  else
    passed=${line%% passed*}
    failed=${line#*, }
    failed=${failed%% failed}
    if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
      failed=1
      echo "conformance: $client exited with status $status: counted as 1 failed"
    fi
  fi
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  summary+=("$client: $passed passed, $failed failed in ${seconds}s")
done
client_pids=()

echo
for line in "${summary[@]}"; do
  say "$line"
done
say "total time $(elapsed "$suite_start")s"
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
