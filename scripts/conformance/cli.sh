#!/usr/bin/env bash
# The conformance lifecycle with the AWS CLI v1 (from PyPI, in .venv). Run by run.sh, which
# starts the server and sets CONFORMANCE_* (endpoint, the two accounts' keys, the bundle's
# location, a work folder). Every call passes --endpoint-url; the CLI reads no configuration
# file (AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE are /dev/null).
#
# A failed check is reported and the run goes on; the last line is "N passed, M failed".
set -uo pipefail

: "${CONFORMANCE_ENDPOINT:?run this through scripts/conformance/run.sh}"
AWS_CLI=${AWS_CLI:-aws}
prefix=${CONFORMANCE_CLIENT:-cli}
template=$prefix-tmpl
env=$prefix-env
dir=$CONFORMANCE_WORK/env
mkdir -p "$dir"
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=$CONFORMANCE_REGION AWS_PAGER=""
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_PROTON AWS_PROFILE

passed=0
failed=0
ok() {
  passed=$((passed + 1))
  echo "ok     $1"
}
not_ok() {
  failed=$((failed + 1))
  echo "FAILED $1"
  echo "       expected: $2"
  echo "       got:      $3"
}
# check WHAT EXPECTED GOT
check() {
  if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "$2" "$3"; fi
}
# contains WHAT NEEDLE HAYSTACK
contains() {
  case $3 in
    *"$2"*) ok "$1" ;;
    *) not_ok "$1" "something containing '$2'" "$3" ;;
  esac
}
# field FILTER: jq on $out.
field() { jq -r "$1 // empty" <<< "$out" 2> /dev/null; }

# as KEY_ID SECRET CLI-ARGS...: one CLI call with those credentials, always to protond.
as() {
  AWS_ACCESS_KEY_ID=$1 AWS_SECRET_ACCESS_KEY=$2 \
    "$AWS_CLI" --endpoint-url "$CONFORMANCE_ENDPOINT" --region "$CONFORMANCE_REGION" "${@:3}"
}
a() { as "$CONFORMANCE_A_KEY_ID" "$CONFORMANCE_A_SECRET" "$@"; }
b() { as "$CONFORMANCE_B_KEY_ID" "$CONFORMANCE_B_SECRET" "$@"; }

# run WHAT CLI-ARGS...: a call that must succeed; its standard output goes to $out.
run() {
  local what=$1 status=0
  shift
  out=$("$@" 2> "$CONFORMANCE_WORK/stderr") || status=$?
  if [ "$status" -ne 0 ]; then
    not_ok "$what" "success" "exit status $status: $(cat "$CONFORMANCE_WORK/stderr")"
    return 1
  fi
  return 0
}

# fails WHAT CODE MESSAGE-PART CLI-ARGS...: a call that must fail with that error code (and a
# message containing MESSAGE-PART, when not empty).
fails() {
  local what=$1 code=$2 part=$3 status=0 err
  shift 3
  out=$("$@" 2> "$CONFORMANCE_WORK/stderr") || status=$?
  err=$(grep -m1 'An error occurred' "$CONFORMANCE_WORK/stderr")
  if [ "$status" -eq 0 ]; then
    not_ok "$what" "$code" "success: $out"
  elif [[ $err != *"($code) when calling"* ]]; then
    not_ok "$what" "$code" "$(cat "$CONFORMANCE_WORK/stderr")"
  elif [ -n "$part" ] && [[ $err != *"$part"* ]]; then
    not_ok "$what" "$code with a message containing '$part'" "$err"
  else
    ok "$what: $code"
  fi
}

spec() { # spec LABEL [GATE]
  printf 'proton: EnvironmentSpec\nspec:\n  dir: %s\n  label: %s\n' "$dir" "$1"
  if [ -n "${2:-}" ]; then printf '  gate: %s\n' "$2"; fi
}
spec_one=$(spec one)
spec_two=$(spec two)
gate=$dir/gate
spec_three=$(spec three "$gate")
env_arn="arn:aws:proton:$CONFORMANCE_REGION:$CONFORMANCE_A_ACCOUNT:environment/$env"
template_arn="arn:aws:proton:$CONFORMANCE_REGION:$CONFORMANCE_A_ACCOUNT:environment-template/$template"

echo "$("$AWS_CLI" --version 2>&1) against $CONFORMANCE_ENDPOINT"
contains "endpoint is loopback" "http://127.0.0.1:" "$CONFORMANCE_ENDPOINT"

# --- template, version, publication ---------------------------------------------------------

if run "create-environment-template" a proton create-environment-template \
  --name "$template" --display-name "Conformance ($prefix)"; then
  check "create-environment-template: arn" "$template_arn" "$(field .environmentTemplate.arn)"
fi

if run "create-environment-template-version" a proton create-environment-template-version \
  --template-name "$template" \
  --source "s3={bucket=$CONFORMANCE_BUCKET,key=$CONFORMANCE_KEY}"; then
  check "create-environment-template-version: status" "REGISTRATION_IN_PROGRESS" \
    "$(field .environmentTemplateVersion.status)"
  check "create-environment-template-version: 1.0" "1.0" \
    "$(field '.environmentTemplateVersion | "\(.majorVersion).\(.minorVersion)"')"
fi

if run "wait environment-template-version-registered" a proton wait \
  environment-template-version-registered \
  --template-name "$template" --major-version 1 --minor-version 0; then
  check "wait environment-template-version-registered: prints nothing" "" "$out"
fi
run "get-environment-template-version" a proton get-environment-template-version \
  --template-name "$template" --major-version 1 --minor-version 0 \
  && check "registered version: DRAFT" "DRAFT" "$(field .environmentTemplateVersion.status)"

if run "publish" a proton update-environment-template-version --template-name "$template" \
  --major-version 1 --minor-version 0 --status PUBLISHED; then
  check "publish: status" "PUBLISHED" "$(field .environmentTemplateVersion.status)"
  check "publish: recommendedMinorVersion" "0" \
    "$(field .environmentTemplateVersion.recommendedMinorVersion)"
fi

# --- the environment ------------------------------------------------------------------------

if run "create-environment" a proton create-environment --name "$env" \
  --template-name "$template" --template-major-version 1 --spec "$spec_one"; then
  check "create-environment: status" "IN_PROGRESS" "$(field .environment.deploymentStatus)"
  check "create-environment: arn" "$env_arn" "$(field .environment.arn)"
fi
first_deployment=$(field .environment.lastAttemptedDeploymentId)

run "wait environment-deployed" a proton wait environment-deployed --name "$env" \
  && check "wait environment-deployed: prints nothing" "" "$out"

if run "get-environment" a proton get-environment --name "$env"; then
  check "get-environment: status" "SUCCEEDED" "$(field .environment.deploymentStatus)"
  check "get-environment: spec" "$spec_one" "$(field .environment.spec)"
  check "get-environment: template version" "$template 1.0" \
    "$(field '.environment | "\(.templateName) \(.templateMajorVersion).\(.templateMinorVersion)"')"
  check "get-environment: lastSucceededDeploymentId" "$first_deployment" \
    "$(field .environment.lastSucceededDeploymentId)"
fi

run "list-environments" a proton list-environments \
  && check "list-environments: holds $env once" "1" \
    "$(jq --arg n "$env" '[.environments[] | select(.name == $n)] | length' <<< "$out")"
run "list-environments filtered by template" a proton list-environments \
  --environment-templates "templateName=$template,majorVersion=1" \
  && check "list-environments filtered by template: only $env" "$env" \
    "$(jq -r '[.environments[].name] | join(" ")' <<< "$out")"

# --- update -----------------------------------------------------------------------------------

if run "update-environment (CURRENT_VERSION)" a proton update-environment --name "$env" \
  --deployment-type CURRENT_VERSION --spec "$spec_two"; then
  check "update-environment: status" "IN_PROGRESS" "$(field .environment.deploymentStatus)"
fi
second_deployment=$(field .environment.lastAttemptedDeploymentId)
run "wait environment-deployed after the update" a proton wait environment-deployed --name "$env"
if run "get-environment after the update" a proton get-environment --name "$env"; then
  check "after the update: status" "SUCCEEDED" "$(field .environment.deploymentStatus)"
  check "after the update: spec is the new one" "$spec_two" "$(field .environment.spec)"
  check "after the update: lastSucceededDeploymentId" "$second_deployment" \
    "$(field .environment.lastSucceededDeploymentId)"
fi

# --- cancel an update while its commands wait on the gate ------------------------------------

if run "update-environment (gated)" a proton update-environment --name "$env" \
  --deployment-type CURRENT_VERSION --spec "$spec_three"; then
  check "gated update: status" "IN_PROGRESS" "$(field .environment.deploymentStatus)"
  check "gated update: spec shown is still the deployed one" "$spec_two" "$(field .environment.spec)"
fi
third_deployment=$(field .environment.lastAttemptedDeploymentId)
for _ in $(seq 1 300); do
  [ -e "$dir/waiting-three" ] && break
  sleep 0.1
done
check "gated update: provisioning commands run and wait" "yes" \
  "$([ -e "$dir/waiting-three" ] && echo yes || echo no)"
run "cancel-environment-deployment" a proton cancel-environment-deployment \
  --environment-name "$env" \
  && check "cancel-environment-deployment: status" "CANCELLING" \
    "$(field .environment.deploymentStatus)"
status=""
for _ in $(seq 1 120); do
  run "get-environment while cancelling" a proton get-environment --name "$env" || break
  status=$(field .environment.deploymentStatus)
  [ "$status" != CANCELLING ] && [ "$status" != IN_PROGRESS ] && break
  sleep 0.5
done
check "after the cancel: status" "CANCELLED" "$status"
check "after the cancel: message" "User initiated cancellation." \
  "$(field .environment.deploymentStatusMessage)"
check "after the cancel: spec is the previous one" "$spec_two" "$(field .environment.spec)"
check "after the cancel: lastAttemptedDeploymentId" "$third_deployment" \
  "$(field .environment.lastAttemptedDeploymentId)"
check "after the cancel: lastSucceededDeploymentId" "$second_deployment" \
  "$(field .environment.lastSucceededDeploymentId)"

# --- deployments, page by page ----------------------------------------------------------------

expected_deployments="$third_deployment CANCELLED $second_deployment SUCCEEDED $first_deployment SUCCEEDED"
# By hand: maxResults 1, following nextToken (the CLI does not paginate when --max-results is
# given).
pages=0
listed=""
token=""
while :; do
  args=(a proton list-deployments --environment-name "$env" --max-results 1)
  [ -n "$token" ] && args+=(--next-token "$token")
  run "list-deployments page $((pages + 1))" "${args[@]}" || break
  pages=$((pages + 1))
  count=$(jq '.deployments | length' <<< "$out")
  [ "$count" -le 1 ] || not_ok "list-deployments page $pages: at most 1 item" "<= 1" "$count"
  listed="$listed $(jq -r '.deployments[] | "\(.id) \(.deploymentStatus)"' <<< "$out" | tr '\n' ' ')"
  token=$(field .nextToken)
  [ -z "$token" ] || [ "$pages" -ge 10 ] && break
done
check "list-deployments by hand, maxResults 1: newest first" "$expected_deployments" \
  "$(echo $listed)"
check "list-deployments by hand: pages" "3" "$pages"
# The CLI's own paginator: pages of 2, merged.
run "list-deployments --page-size 2" a proton list-deployments --environment-name "$env" \
  --page-size 2 \
  && check "list-deployments with the CLI's paginator (--page-size 2)" "$expected_deployments" \
    "$(jq -r '[.deployments[] | "\(.id) \(.deploymentStatus)"] | join(" ")' <<< "$out")"
# --max-items and --starting-token: the CLI's resumable pagination.
if run "list-deployments --max-items 2" a proton list-deployments --environment-name "$env" \
  --max-items 2 --page-size 1; then
  first_two=$(jq -r '[.deployments[] | .id] | join(" ")' <<< "$out")
  resume=$(jq -r '.NextToken // empty' <<< "$out")
  check "list-deployments --max-items 2" "$third_deployment $second_deployment" "$first_two"
  run "list-deployments --starting-token" a proton list-deployments --environment-name "$env" \
    --max-items 2 --page-size 1 --starting-token "$resume" \
    && check "list-deployments --starting-token: the rest" "$first_deployment" \
      "$(jq -r '[.deployments[] | .id] | join(" ")' <<< "$out")"
fi
if run "get-deployment (cancelled)" a proton get-deployment --id "$third_deployment" \
  --environment-name "$env"; then
  check "get-deployment: status" "CANCELLED" "$(field .deployment.deploymentStatus)"
  check "get-deployment: initialState spec" "$spec_two" \
    "$(field .deployment.initialState.environment.spec)"
  check "get-deployment: targetState spec" "$spec_three" \
    "$(field .deployment.targetState.environment.spec)"
fi

# --- outputs and tags -------------------------------------------------------------------------

run "list-environment-outputs" a proton list-environment-outputs --environment-name "$env" \
  && check "list-environment-outputs" "Dir=$dir Label=two" \
    "$(jq -r '[.outputs[] | "\(.key)=\(.valueString)"] | sort | join(" ")' <<< "$out")"

run "tag-resource" a proton tag-resource --resource-arn "$env_arn" \
  --tags key=team,value=platform key=client,value="$prefix"
run "list-tags-for-resource" a proton list-tags-for-resource --resource-arn "$env_arn" \
  && check "list-tags-for-resource" "client=$prefix team=platform" \
    "$(jq -r '[.tags[] | "\(.key)=\(.value)"] | sort | join(" ")' <<< "$out")"
run "untag-resource" a proton untag-resource --resource-arn "$env_arn" --tag-keys team
run "list-tags-for-resource after untag" a proton list-tags-for-resource \
  --resource-arn "$env_arn" \
  && check "list-tags-for-resource after untag" "client=$prefix" \
    "$(jq -r '[.tags[] | "\(.key)=\(.value)"] | sort | join(" ")' <<< "$out")"

# --- errors -----------------------------------------------------------------------------------

fails "get-environment of a missing environment" ResourceNotFoundException "$prefix-missing" \
  a proton get-environment --name "$prefix-missing"
fails "cancel with nothing in progress" ConflictException "" \
  a proton cancel-environment-deployment --environment-name "$env"
fails "update with a bad spec" ValidationException "spec.label" \
  a proton update-environment --name "$env" --deployment-type CURRENT_VERSION \
  --spec "$(spec NOT_VALID)"
fails "wrong secret" InvalidSignatureException "" \
  as "$CONFORMANCE_A_KEY_ID" "not-the-secret" proton list-environments
fails "unknown access key" UnrecognizedClientException "" \
  as AKIDUNKNOWNCONFORM "$CONFORMANCE_A_SECRET" proton list-environments

# The other account sees nothing of account A's.
fails "account B: get-environment" ResourceNotFoundException "" \
  b proton get-environment --name "$env"
fails "account B: get-environment-template" ResourceNotFoundException "" \
  b proton get-environment-template --name "$template"
fails "account B: cancel-environment-deployment" ResourceNotFoundException "" \
  b proton cancel-environment-deployment --environment-name "$env"
fails "account B: update-environment" ResourceNotFoundException "" \
  b proton update-environment --name "$env" --deployment-type CURRENT_VERSION --spec "$spec_one"
fails "account B: list-tags-for-resource on A's ARN" ResourceNotFoundException "" \
  b proton list-tags-for-resource --resource-arn "$env_arn"
fails "account B: get-deployment" ResourceNotFoundException "" \
  b proton get-deployment --id "$first_deployment"
run "account B: list-environments" b proton list-environments \
  && check "account B: list-environments does not show $env" "0" \
    "$(jq --arg n "$env" '[.environments[] | select(.name == $n)] | length' <<< "$out")"
run "account B: list-deployments" b proton list-deployments --environment-name "$env" \
  && check "account B: list-deployments for A's environment is empty" "0" \
    "$(jq '.deployments | length' <<< "$out")"

# --- deletion ---------------------------------------------------------------------------------

run "delete-environment" a proton delete-environment --name "$env" \
  && check "delete-environment: status" "DELETE_IN_PROGRESS" "$(field .environment.deploymentStatus)"
gone=no
for _ in $(seq 1 120); do
  if ! a proton get-environment --name "$env" > /dev/null 2> "$CONFORMANCE_WORK/stderr"; then
    grep -q '(ResourceNotFoundException)' "$CONFORMANCE_WORK/stderr" && gone=yes
    break
  fi
  sleep 0.5
done
check "environment gone after delete (ResourceNotFoundException)" "yes" "$gone"
check "deprovision ran" "absent" "$([ -e "$dir/provisioned" ] && echo present || echo absent)"
run "delete-environment-template-version" a proton delete-environment-template-version \
  --template-name "$template" --major-version 1 --minor-version 0
run "delete-environment-template" a proton delete-environment-template --name "$template"
fails "template gone after delete" ResourceNotFoundException "" \
  a proton get-environment-template --name "$template"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
