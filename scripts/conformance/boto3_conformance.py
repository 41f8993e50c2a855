"""The conformance lifecycle with boto3 (from PyPI, in .venv).

Run by run.sh, which starts the server and sets CONFORMANCE_* (endpoint, the two accounts'
keys, the bundle's location, a work folder). Every client is built with an explicit loopback
endpoint and explicit credentials, from a session that reads no configuration file.

A failed check is reported and the run goes on; the last line is "N passed, M failed".
"""

import os
import sys
import time
from pathlib import Path

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["CONFORMANCE_ENDPOINT"]
REGION = os.environ["CONFORMANCE_REGION"]
PREFIX = os.environ.get("CONFORMANCE_CLIENT", "boto3")
TEMPLATE = f"{PREFIX}-tmpl"
ENV = f"{PREFIX}-env"
DIR = Path(os.environ["CONFORMANCE_WORK"]) / "env"
ACCOUNT_A = os.environ["CONFORMANCE_A_ACCOUNT"]
ENV_ARN = f"arn:aws:proton:{REGION}:{ACCOUNT_A}:environment/{ENV}"
TEMPLATE_ARN = f"arn:aws:proton:{REGION}:{ACCOUNT_A}:environment-template/{TEMPLATE}"

passed = 0
failed = 0


def ok(what):
    global passed
    passed += 1
    print(f"ok     {what}", flush=True)


def not_ok(what, expected, got):
    global failed
    failed += 1
    print(f"FAILED {what}\n       expected: {expected!r}\n       got:      {got!r}", flush=True)


def check(what, expected, got):
    if expected == got:
        ok(what)
    else:
        not_ok(what, expected, got)


class Step:
    """A block of calls and checks: an unexpected exception inside it is one failed check, and
    the run goes on with the next step."""

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if error is not None:
            not_ok(self.what, "no error", f"{kind.__name__}: {error}")
        return True


def fails(what, code, call, message_part=None, **params):
    """A call that must fail with `code` (and a message containing `message_part`)."""
    try:
        answer = call(**params)
    except ClientError as error:
        got = error.response["Error"]["Code"]
        message = error.response["Error"].get("Message", "")
        if got != code:
            not_ok(what, code, f"{got}: {message}")
        elif message_part and message_part not in message:
            not_ok(what, f"{code} with a message containing {message_part!r}", message)
        else:
            ok(f"{what}: {code}")
        return
    except Exception as error:  # noqa: BLE001 - any other error is a failed check
        not_ok(what, code, f"{type(error).__name__}: {error}")
        return
    not_ok(what, code, f"success: {answer}")


def client(key_id, secret):
    # A session of its own with explicit credentials: no profile, no credential chain, no
    # instance metadata. The endpoint is given explicitly, so no call can go to AWS.
    session = boto3.session.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=REGION
    )
    return session.client(
        "proton",
        endpoint_url=ENDPOINT,
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=30),
    )


def spec(label, gate=None):
    text = f"proton: EnvironmentSpec\nspec:\n  dir: {DIR}\n  label: {label}\n"
    if gate:
        text += f"  gate: {gate}\n"
    return text


def main():
    DIR.mkdir(parents=True, exist_ok=True)
    a = client(os.environ["CONFORMANCE_A_KEY_ID"], os.environ["CONFORMANCE_A_SECRET"])
    b = client(os.environ["CONFORMANCE_B_KEY_ID"], os.environ["CONFORMANCE_B_SECRET"])
    print(f"boto3 {boto3.__version__}, botocore {botocore.__version__} against {ENDPOINT}")
    check("endpoint is loopback", True, a.meta.endpoint_url.startswith("http://127.0.0.1:"))
    check("account B's endpoint is loopback", True, b.meta.endpoint_url.startswith("http://127.0.0.1:"))
    fast = {"Delay": 1, "MaxAttempts": 120}
    spec_one, spec_two = spec("one"), spec("two")
    gate = DIR / "gate"
    spec_three = spec("three", gate)
    ids = {}

    # --- template, version, publication ---------------------------------------------------
    with Step("create_environment_template"):
        got = a.create_environment_template(name=TEMPLATE, displayName=f"Conformance ({PREFIX})")
        check("create_environment_template: arn", TEMPLATE_ARN, got["environmentTemplate"]["arn"])
    with Step("create_environment_template_version"):
        got = a.create_environment_template_version(
            templateName=TEMPLATE,
            source={"s3": {"bucket": os.environ["CONFORMANCE_BUCKET"], "key": os.environ["CONFORMANCE_KEY"]}},
        )["environmentTemplateVersion"]
        check("create_environment_template_version: status", "REGISTRATION_IN_PROGRESS", got["status"])
        check("create_environment_template_version: 1.0", ("1", "0"), (got["majorVersion"], got["minorVersion"]))
    with Step("waiter environment_template_version_registered"):
        a.get_waiter("environment_template_version_registered").wait(
            templateName=TEMPLATE, majorVersion="1", minorVersion="0", WaiterConfig=fast
        )
        ok("waiter environment_template_version_registered")
        got = a.get_environment_template_version(templateName=TEMPLATE, majorVersion="1", minorVersion="0")
        check("registered version: DRAFT", "DRAFT", got["environmentTemplateVersion"]["status"])
    with Step("publish"):
        got = a.update_environment_template_version(
            templateName=TEMPLATE, majorVersion="1", minorVersion="0", status="PUBLISHED"
        )["environmentTemplateVersion"]
        check("publish: status", "PUBLISHED", got["status"])
        check("publish: recommendedMinorVersion", "0", got.get("recommendedMinorVersion"))

    # --- the environment ------------------------------------------------------------------
    with Step("create_environment"):
        got = a.create_environment(
            name=ENV, templateName=TEMPLATE, templateMajorVersion="1", spec=spec_one
        )["environment"]
        check("create_environment: status", "IN_PROGRESS", got["deploymentStatus"])
        check("create_environment: arn", ENV_ARN, got["arn"])
        ids["first"] = got["lastAttemptedDeploymentId"]
    with Step("waiter environment_deployed"):
        a.get_waiter("environment_deployed").wait(name=ENV, WaiterConfig=fast)
        ok("waiter environment_deployed")
    with Step("get_environment"):
        got = a.get_environment(name=ENV)["environment"]
        check("get_environment: status", "SUCCEEDED", got["deploymentStatus"])
        check("get_environment: spec", spec_one, got["spec"])
        check(
            "get_environment: template version",
            (TEMPLATE, "1", "0"),
            (got["templateName"], got["templateMajorVersion"], got["templateMinorVersion"]),
        )
        check("get_environment: lastSucceededDeploymentId", ids.get("first"), got.get("lastSucceededDeploymentId"))
    with Step("list_environments"):
        names = [e["name"] for e in a.list_environments()["environments"]]
        check(f"list_environments: holds {ENV} once", 1, names.count(ENV))
        got = a.list_environments(environmentTemplates=[{"templateName": TEMPLATE, "majorVersion": "1"}])
        check("list_environments filtered by template: only this one", [ENV], [e["name"] for e in got["environments"]])
        paged = [
            e["name"]
            for page in a.get_paginator("list_environments").paginate(PaginationConfig={"PageSize": 1})
            for e in page["environments"]
        ]
        check(f"list_environments paginator (PageSize 1): holds {ENV} once", 1, paged.count(ENV))

    # --- update ---------------------------------------------------------------------------
    with Step("update_environment (CURRENT_VERSION)"):
        got = a.update_environment(name=ENV, deploymentType="CURRENT_VERSION", spec=spec_two)["environment"]
        check("update_environment: status", "IN_PROGRESS", got["deploymentStatus"])
        ids["second"] = got["lastAttemptedDeploymentId"]
        a.get_waiter("environment_deployed").wait(name=ENV, WaiterConfig=fast)
        got = a.get_environment(name=ENV)["environment"]
        check("after the update: status", "SUCCEEDED", got["deploymentStatus"])
        check("after the update: spec is the new one", spec_two, got["spec"])
        check("after the update: lastSucceededDeploymentId", ids["second"], got.get("lastSucceededDeploymentId"))

    # --- cancel an update while its commands wait on the gate ------------------------------
    with Step("cancel a gated update"):
        got = a.update_environment(name=ENV, deploymentType="CURRENT_VERSION", spec=spec_three)["environment"]
        check("gated update: status", "IN_PROGRESS", got["deploymentStatus"])
        check("gated update: spec shown is still the deployed one", spec_two, got["spec"])
        ids["third"] = got["lastAttemptedDeploymentId"]
        deadline = time.time() + 30
        while not (DIR / "waiting-three").exists() and time.time() < deadline:
            time.sleep(0.1)
        check("gated update: provisioning commands run and wait", True, (DIR / "waiting-three").exists())
        got = a.cancel_environment_deployment(environmentName=ENV)["environment"]
        check("cancel_environment_deployment: status", "CANCELLING", got["deploymentStatus"])
        deadline = time.time() + 60
        while True:
            got = a.get_environment(name=ENV)["environment"]
            if got["deploymentStatus"] not in ("CANCELLING", "IN_PROGRESS") or time.time() > deadline:
                break
            time.sleep(0.3)
        check("after the cancel: status", "CANCELLED", got["deploymentStatus"])
        check("after the cancel: message", "User initiated cancellation.", got.get("deploymentStatusMessage"))
        check("after the cancel: spec is the previous one", spec_two, got["spec"])
        check("after the cancel: lastAttemptedDeploymentId", ids["third"], got["lastAttemptedDeploymentId"])
        check("after the cancel: lastSucceededDeploymentId", ids["second"], got.get("lastSucceededDeploymentId"))

    # --- deployments, page by page ----------------------------------------------------------
    expected = [(ids.get("third"), "CANCELLED"), (ids.get("second"), "SUCCEEDED"), (ids.get("first"), "SUCCEEDED")]
    with Step("list_deployments by hand"):
        listed, pages, token = [], 0, None
        while pages < 10:
            params = {"environmentName": ENV, "maxResults": 1}
            if token:
                params["nextToken"] = token
            page = a.list_deployments(**params)
            pages += 1
            if len(page["deployments"]) > 1:
                not_ok(f"list_deployments page {pages}: at most 1 item", 1, len(page["deployments"]))
            listed += [(d["id"], d["deploymentStatus"]) for d in page["deployments"]]
            token = page.get("nextToken")
            if not token:
                break
        check("list_deployments by hand, maxResults 1: newest first", expected, listed)
        check("list_deployments by hand: pages", 3, pages)
    with Step("list_deployments paginator"):
        pages = list(
            a.get_paginator("list_deployments").paginate(environmentName=ENV, PaginationConfig={"PageSize": 2})
        )
        check("list_deployments paginator (PageSize 2): pages", [2, 1], [len(p["deployments"]) for p in pages])
        check(
            "list_deployments paginator (PageSize 2): newest first",
            expected,
            [(d["id"], d["deploymentStatus"]) for p in pages for d in p["deployments"]],
        )
        first = a.get_paginator("list_deployments").paginate(
            environmentName=ENV, PaginationConfig={"PageSize": 1, "MaxItems": 2}
        ).build_full_result()
        check("list_deployments paginator MaxItems 2", [i for i, _ in expected[:2]], [d["id"] for d in first["deployments"]])
        rest = a.get_paginator("list_deployments").paginate(
            environmentName=ENV, PaginationConfig={"PageSize": 1, "MaxItems": 2, "StartingToken": first.get("NextToken")}
        ).build_full_result()
        check("list_deployments paginator StartingToken: the rest", [expected[2][0]], [d["id"] for d in rest["deployments"]])
    with Step("get_deployment (cancelled)"):
        got = a.get_deployment(id=ids["third"], environmentName=ENV)["deployment"]
        check("get_deployment: status", "CANCELLED", got["deploymentStatus"])
        check("get_deployment: initialState spec", spec_two, got["initialState"]["environment"]["spec"])
        check("get_deployment: targetState spec", spec_three, got["targetState"]["environment"]["spec"])

    # --- outputs and tags -------------------------------------------------------------------
    with Step("list_environment_outputs"):
        got = a.list_environment_outputs(environmentName=ENV)["outputs"]
        check("list_environment_outputs", {"Dir": str(DIR), "Label": "two"}, {o["key"]: o.get("valueString") for o in got})
    with Step("tags"):
        a.tag_resource(resourceArn=ENV_ARN, tags=[{"key": "team", "value": "platform"}, {"key": "client", "value": PREFIX}])
        got = a.list_tags_for_resource(resourceArn=ENV_ARN)["tags"]
        check("list_tags_for_resource", {"team": "platform", "client": PREFIX}, {t["key"]: t["value"] for t in got})
        a.untag_resource(resourceArn=ENV_ARN, tagKeys=["team"])
        got = a.list_tags_for_resource(resourceArn=ENV_ARN)["tags"]
        check("list_tags_for_resource after untag", {"client": PREFIX}, {t["key"]: t["value"] for t in got})

    # --- errors -----------------------------------------------------------------------------
    fails("get_environment of a missing environment", "ResourceNotFoundException", a.get_environment,
          message_part=f"{PREFIX}-missing", name=f"{PREFIX}-missing")
    fails("cancel with nothing in progress", "ConflictException", a.cancel_environment_deployment, environmentName=ENV)
    fails("update with a bad spec", "ValidationException", a.update_environment, message_part="spec.label",
          name=ENV, deploymentType="CURRENT_VERSION", spec=spec("NOT_VALID"))
    wrong = client(os.environ["CONFORMANCE_A_KEY_ID"], "not-the-secret")
    fails("wrong secret", "InvalidSignatureException", wrong.list_environments)
    unknown = client("AKIDUNKNOWNCONFORM", os.environ["CONFORMANCE_A_SECRET"])
    fails("unknown access key", "UnrecognizedClientException", unknown.list_environments)

    # The other account sees nothing of account A's.
    fails("account B: get_environment", "ResourceNotFoundException", b.get_environment, name=ENV)
    fails("account B: get_environment_template", "ResourceNotFoundException", b.get_environment_template, name=TEMPLATE)
    fails("account B: cancel_environment_deployment", "ResourceNotFoundException", b.cancel_environment_deployment,
          environmentName=ENV)
    fails("account B: update_environment", "ResourceNotFoundException", b.update_environment,
          name=ENV, deploymentType="CURRENT_VERSION", spec=spec_one)
    fails("account B: list_tags_for_resource on A's ARN", "ResourceNotFoundException", b.list_tags_for_resource,
          resourceArn=ENV_ARN)
    fails("account B: get_deployment", "ResourceNotFoundException", b.get_deployment, id=ids.get("first", "x"))
    with Step("account B: lists"):
        names = [e["name"] for e in b.list_environments()["environments"]]
        check(f"account B: list_environments does not show {ENV}", False, ENV in names)
        check("account B: list_deployments for A's environment is empty", [],
              b.list_deployments(environmentName=ENV)["deployments"])

    # --- deletion ---------------------------------------------------------------------------
    with Step("delete_environment"):
        got = a.delete_environment(name=ENV)["environment"]
        check("delete_environment: status", "DELETE_IN_PROGRESS", got["deploymentStatus"])
        code = None
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                a.get_environment(name=ENV)
            except ClientError as error:
                code = error.response["Error"]["Code"]
                break
            time.sleep(0.3)
        check("environment gone after delete", "ResourceNotFoundException", code)
        check("deprovision ran", False, (DIR / "provisioned").exists())
    with Step("delete the template"):
        a.delete_environment_template_version(templateName=TEMPLATE, majorVersion="1", minorVersion="0")
        a.delete_environment_template(name=TEMPLATE)
        ok("delete_environment_template_version, delete_environment_template")
    fails("template gone after delete", "ResourceNotFoundException", a.get_environment_template, name=TEMPLATE)

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
