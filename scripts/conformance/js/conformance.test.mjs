// The conformance lifecycle with the AWS SDK for JavaScript v3 (@aws-sdk/client-proton), run
// with Node.js's own test runner (`node --test`). Run by ../run.sh, which starts the server and
// sets CONFORMANCE_* (endpoint, the two accounts' keys, the bundle's location, a work folder).
// Every client gets the loopback endpoint and static credentials, so no credential chain runs
// and no call can go to AWS.
//
// Each step is one test; top-level tests run one after the other. Every check prints a line, a
// failed step does not stop the next ones, and the last line is "N passed, M failed".

import { after, test } from "node:test";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import {
  CancelEnvironmentDeploymentCommand,
  CreateEnvironmentCommand,
  CreateEnvironmentTemplateCommand,
  CreateEnvironmentTemplateVersionCommand,
  DeleteEnvironmentCommand,
  DeleteEnvironmentTemplateCommand,
  DeleteEnvironmentTemplateVersionCommand,
  GetDeploymentCommand,
  GetEnvironmentCommand,
  GetEnvironmentTemplateCommand,
  GetEnvironmentTemplateVersionCommand,
  ListDeploymentsCommand,
  ListEnvironmentOutputsCommand,
  ListEnvironmentsCommand,
  ListTagsForResourceCommand,
  ProtonClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateEnvironmentCommand,
  UpdateEnvironmentTemplateVersionCommand,
  paginateListDeployments,
  paginateListEnvironments,
  waitUntilEnvironmentDeployed,
  waitUntilEnvironmentTemplateVersionRegistered,
} from "@aws-sdk/client-proton";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through scripts/conformance/run.sh`);
  return value;
};
const ENDPOINT = env("CONFORMANCE_ENDPOINT");
const REGION = env("CONFORMANCE_REGION");
const PREFIX = process.env.CONFORMANCE_CLIENT || "js";
const TEMPLATE = `${PREFIX}-tmpl`;
const ENV = `${PREFIX}-env`;
const DIR = join(env("CONFORMANCE_WORK"), "env");
const ENV_ARN = `arn:aws:proton:${REGION}:${env("CONFORMANCE_A_ACCOUNT")}:environment/${ENV}`;
const TEMPLATE_ARN = `arn:aws:proton:${REGION}:${env("CONFORMANCE_A_ACCOUNT")}:environment-template/${TEMPLATE}`;

const client = (accessKeyId, secretAccessKey) =>
  new ProtonClient({
    endpoint: ENDPOINT,
    region: REGION,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 2,
  });
const a = client(env("CONFORMANCE_A_KEY_ID"), env("CONFORMANCE_A_SECRET"));
const b = client(env("CONFORMANCE_B_KEY_ID"), env("CONFORMANCE_B_SECRET"));
// The SDK's waiters, polling every second or two rather than the model's default delays.
const waiter = { client: a, maxWaitTime: 60, minDelay: 1, maxDelay: 2 };

let passed = 0;
let failed = 0;
let stepFailures = 0;
const ok = (what) => {
  passed += 1;
  console.log(`ok     ${what}`);
};
const notOk = (what, expected, got) => {
  failed += 1;
  stepFailures += 1;
  console.log(`FAILED ${what}\n       expected: ${JSON.stringify(expected)}\n       got:      ${JSON.stringify(got)}`);
};
const check = (what, expected, got) => (isDeepStrictEqual(expected, got) ? ok(what) : notOk(what, expected, got));

// step NAME FN: one test. An exception inside is one failed check; any failed check fails it.
const step = (name, fn) =>
  test(name, async () => {
    stepFailures = 0;
    try {
      await fn();
    } catch (error) {
      notOk(name, "no error", `${error?.name}: ${error?.message}`);
    }
    if (stepFailures > 0) throw new Error(`${stepFailures} check(s) failed in '${name}'`);
  });

// fails WHAT CODE CALL [MESSAGE-PART]: a call that must be refused with that error code.
const fails = async (what, code, call, messagePart) => {
  let answer;
  try {
    answer = await call();
  } catch (error) {
    if (error?.name !== code) return notOk(what, code, `${error?.name}: ${error?.message}`);
    if (error.$metadata?.httpStatusCode === undefined || error.$metadata.httpStatusCode < 400) {
      return notOk(what, `${code} with a 4xx status`, error.$metadata);
    }
    if (messagePart && !String(error.message).includes(messagePart)) {
      return notOk(what, `${code} with a message containing '${messagePart}'`, error.message);
    }
    return ok(`${what}: ${code} (${error.$metadata.httpStatusCode})`);
  }
  notOk(what, code, `success: ${JSON.stringify(answer)}`);
};

const spec = (label, gate) =>
  `proton: EnvironmentSpec\nspec:\n  dir: ${DIR}\n  label: ${label}\n` + (gate ? `  gate: ${gate}\n` : "");
const specOne = spec("one");
const specTwo = spec("two");
const gate = join(DIR, "gate");
const specThree = spec("three", gate);
const ids = {};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const getEnv = async (client, name) => (await client.send(new GetEnvironmentCommand({ name }))).environment;

after(() => {
  console.log(`${passed} passed, ${failed} failed`);
});

step("setup", async () => {
  mkdirSync(DIR, { recursive: true });
  const { version } = JSON.parse(readFileSync(new URL("./node_modules/@aws-sdk/client-proton/package.json", import.meta.url)));
  console.log(`@aws-sdk/client-proton ${version} on Node.js ${process.version} against ${ENDPOINT}`);
  for (const [name, c] of [["A", a], ["B", b]]) {
    const endpoint = await c.config.endpoint();
    check(`account ${name}'s client endpoint is loopback`, ["http:", "127.0.0.1"], [endpoint.protocol, endpoint.hostname]);
  }
});

step("template, version, publication", async () => {
  let got = await a.send(new CreateEnvironmentTemplateCommand({ name: TEMPLATE, displayName: `Conformance (${PREFIX})` }));
  check("CreateEnvironmentTemplate: arn", TEMPLATE_ARN, got.environmentTemplate.arn);
  got = await a.send(
    new CreateEnvironmentTemplateVersionCommand({
      templateName: TEMPLATE,
      source: { s3: { bucket: env("CONFORMANCE_BUCKET"), key: env("CONFORMANCE_KEY") } },
    }),
  );
  check("CreateEnvironmentTemplateVersion: status", "REGISTRATION_IN_PROGRESS", got.environmentTemplateVersion.status);
  check("CreateEnvironmentTemplateVersion: 1.0", ["1", "0"], [
    got.environmentTemplateVersion.majorVersion,
    got.environmentTemplateVersion.minorVersion,
  ]);
  const waited = await waitUntilEnvironmentTemplateVersionRegistered(waiter, {
    templateName: TEMPLATE,
    majorVersion: "1",
    minorVersion: "0",
  });
  check("waitUntilEnvironmentTemplateVersionRegistered: state", "SUCCESS", waited.state);
  got = await a.send(new GetEnvironmentTemplateVersionCommand({ templateName: TEMPLATE, majorVersion: "1", minorVersion: "0" }));
  check("registered version: DRAFT", "DRAFT", got.environmentTemplateVersion.status);
  got = await a.send(
    new UpdateEnvironmentTemplateVersionCommand({ templateName: TEMPLATE, majorVersion: "1", minorVersion: "0", status: "PUBLISHED" }),
  );
  check("publish: status", "PUBLISHED", got.environmentTemplateVersion.status);
  check("publish: recommendedMinorVersion", "0", got.environmentTemplateVersion.recommendedMinorVersion);
});

step("environment", async () => {
  const created = (
    await a.send(new CreateEnvironmentCommand({ name: ENV, templateName: TEMPLATE, templateMajorVersion: "1", spec: specOne }))
  ).environment;
  check("CreateEnvironment: status", "IN_PROGRESS", created.deploymentStatus);
  check("CreateEnvironment: arn", ENV_ARN, created.arn);
  ids.first = created.lastAttemptedDeploymentId;
  const waited = await waitUntilEnvironmentDeployed(waiter, { name: ENV });
  check("waitUntilEnvironmentDeployed: state", "SUCCESS", waited.state);
  const got = await getEnv(a, ENV);
  check("GetEnvironment: status", "SUCCEEDED", got.deploymentStatus);
  check("GetEnvironment: spec", specOne, got.spec);
  check("GetEnvironment: template version", [TEMPLATE, "1", "0"], [got.templateName, got.templateMajorVersion, got.templateMinorVersion]);
  check("GetEnvironment: lastSucceededDeploymentId", ids.first, got.lastSucceededDeploymentId);
  check("GetEnvironment: createdAt is a Date", true, got.createdAt instanceof Date);
});

step("list environments", async () => {
  const all = (await a.send(new ListEnvironmentsCommand({}))).environments.map((e) => e.name);
  check(`ListEnvironments: holds ${ENV} once`, 1, all.filter((n) => n === ENV).length);
  const filtered = await a.send(new ListEnvironmentsCommand({ environmentTemplates: [{ templateName: TEMPLATE, majorVersion: "1" }] }));
  check("ListEnvironments filtered by template: only this one", [ENV], filtered.environments.map((e) => e.name));
  const paged = [];
  for await (const page of paginateListEnvironments({ client: a, pageSize: 1 }, {})) {
    paged.push(...page.environments.map((e) => e.name));
  }
  check(`paginateListEnvironments (pageSize 1): holds ${ENV} once`, 1, paged.filter((n) => n === ENV).length);
});

step("update", async () => {
  const got = (await a.send(new UpdateEnvironmentCommand({ name: ENV, deploymentType: "CURRENT_VERSION", spec: specTwo }))).environment;
  check("UpdateEnvironment: status", "IN_PROGRESS", got.deploymentStatus);
  ids.second = got.lastAttemptedDeploymentId;
  await waitUntilEnvironmentDeployed(waiter, { name: ENV });
  const now = await getEnv(a, ENV);
  check("after the update: status", "SUCCEEDED", now.deploymentStatus);
  check("after the update: spec is the new one", specTwo, now.spec);
  check("after the update: lastSucceededDeploymentId", ids.second, now.lastSucceededDeploymentId);
});

step("cancel an update while its commands wait", async () => {
  let got = (await a.send(new UpdateEnvironmentCommand({ name: ENV, deploymentType: "CURRENT_VERSION", spec: specThree }))).environment;
  check("gated update: status", "IN_PROGRESS", got.deploymentStatus);
  check("gated update: spec shown is still the deployed one", specTwo, got.spec);
  ids.third = got.lastAttemptedDeploymentId;
  const waiting = join(DIR, "waiting-three");
  for (let i = 0; i < 300 && !existsSync(waiting); i += 1) await sleep(100);
  check("gated update: provisioning commands run and wait", true, existsSync(waiting));
  got = (await a.send(new CancelEnvironmentDeploymentCommand({ environmentName: ENV }))).environment;
  check("CancelEnvironmentDeployment: status", "CANCELLING", got.deploymentStatus);
  const deadline = Date.now() + 60_000;
  do {
    got = await getEnv(a, ENV);
    if (!["CANCELLING", "IN_PROGRESS"].includes(got.deploymentStatus)) break;
    await sleep(300);
  } while (Date.now() < deadline);
  check("after the cancel: status", "CANCELLED", got.deploymentStatus);
  check("after the cancel: message", "User initiated cancellation.", got.deploymentStatusMessage);
  check("after the cancel: spec is the previous one", specTwo, got.spec);
  check("after the cancel: lastAttemptedDeploymentId", ids.third, got.lastAttemptedDeploymentId);
  check("after the cancel: lastSucceededDeploymentId", ids.second, got.lastSucceededDeploymentId);
});

step("deployments, page by page", async () => {
  const expected = [
    [ids.third, "CANCELLED"],
    [ids.second, "SUCCEEDED"],
    [ids.first, "SUCCEEDED"],
  ];
  const listed = [];
  let pages = 0;
  let nextToken;
  do {
    const page = await a.send(new ListDeploymentsCommand({ environmentName: ENV, maxResults: 1, nextToken }));
    pages += 1;
    if (page.deployments.length > 1) notOk(`ListDeployments page ${pages}: at most 1 item`, 1, page.deployments.length);
    listed.push(...page.deployments.map((d) => [d.id, d.deploymentStatus]));
    nextToken = page.nextToken;
  } while (nextToken && pages < 10);
  check("ListDeployments by hand, maxResults 1: newest first", expected, listed);
  check("ListDeployments by hand: pages", 3, pages);

  const sizes = [];
  const streamed = [];
  for await (const page of paginateListDeployments({ client: a, pageSize: 2 }, { environmentName: ENV })) {
    sizes.push(page.deployments.length);
    streamed.push(...page.deployments.map((d) => [d.id, d.deploymentStatus]));
  }
  check("paginateListDeployments (pageSize 2): pages", [2, 1], sizes);
  check("paginateListDeployments (pageSize 2): newest first", expected, streamed);

  const got = (await a.send(new GetDeploymentCommand({ id: ids.third, environmentName: ENV }))).deployment;
  check("GetDeployment: status", "CANCELLED", got.deploymentStatus);
  check("GetDeployment: initialState spec", specTwo, got.initialState?.environment?.spec);
  check("GetDeployment: targetState spec", specThree, got.targetState?.environment?.spec);
});

step("outputs and tags", async () => {
  const outputs = (await a.send(new ListEnvironmentOutputsCommand({ environmentName: ENV }))).outputs;
  check("ListEnvironmentOutputs", { Dir: DIR, Label: "two" }, Object.fromEntries(outputs.map((o) => [o.key, o.valueString])));
  await a.send(
    new TagResourceCommand({
      resourceArn: ENV_ARN,
      tags: [
        { key: "team", value: "platform" },
        { key: "client", value: PREFIX },
      ],
    }),
  );
  const tags = async () =>
    Object.fromEntries((await a.send(new ListTagsForResourceCommand({ resourceArn: ENV_ARN }))).tags.map((t) => [t.key, t.value]));
  check("ListTagsForResource", { team: "platform", client: PREFIX }, await tags());
  await a.send(new UntagResourceCommand({ resourceArn: ENV_ARN, tagKeys: ["team"] }));
  check("ListTagsForResource after untag", { client: PREFIX }, await tags());
});

step("errors", async () => {
  await fails("GetEnvironment of a missing environment", "ResourceNotFoundException", () => getEnv(a, `${PREFIX}-missing`), `${PREFIX}-missing`);
  await fails("cancel with nothing in progress", "ConflictException", () =>
    a.send(new CancelEnvironmentDeploymentCommand({ environmentName: ENV })),
  );
  await fails(
    "update with a bad spec",
    "ValidationException",
    () => a.send(new UpdateEnvironmentCommand({ name: ENV, deploymentType: "CURRENT_VERSION", spec: spec("NOT_VALID") })),
    "spec.label",
  );
  const wrong = client(env("CONFORMANCE_A_KEY_ID"), "not-the-secret");
  await fails("wrong secret", "InvalidSignatureException", () => wrong.send(new ListEnvironmentsCommand({})));
  const unknown = client("AKIDUNKNOWNCONFORM", env("CONFORMANCE_A_SECRET"));
  await fails("unknown access key", "UnrecognizedClientException", () => unknown.send(new ListEnvironmentsCommand({})));
});

step("the other account sees nothing", async () => {
  const rnf = "ResourceNotFoundException";
  await fails("account B: GetEnvironment", rnf, () => getEnv(b, ENV));
  await fails("account B: GetEnvironmentTemplate", rnf, () => b.send(new GetEnvironmentTemplateCommand({ name: TEMPLATE })));
  await fails("account B: CancelEnvironmentDeployment", rnf, () =>
    b.send(new CancelEnvironmentDeploymentCommand({ environmentName: ENV })),
  );
  await fails("account B: UpdateEnvironment", rnf, () =>
    b.send(new UpdateEnvironmentCommand({ name: ENV, deploymentType: "CURRENT_VERSION", spec: specOne })),
  );
  await fails("account B: ListTagsForResource on A's ARN", rnf, () => b.send(new ListTagsForResourceCommand({ resourceArn: ENV_ARN })));
  await fails("account B: GetDeployment", rnf, () => b.send(new GetDeploymentCommand({ id: ids.first ?? "x" })));
  const names = (await b.send(new ListEnvironmentsCommand({}))).environments.map((e) => e.name);
  check(`account B: ListEnvironments does not show ${ENV}`, false, names.includes(ENV));
  const deployments = (await b.send(new ListDeploymentsCommand({ environmentName: ENV }))).deployments;
  check("account B: ListDeployments for A's environment is empty", [], deployments);
});

step("deletion", async () => {
  const got = (await a.send(new DeleteEnvironmentCommand({ name: ENV }))).environment;
  check("DeleteEnvironment: status", "DELETE_IN_PROGRESS", got.deploymentStatus);
  let code;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      await getEnv(a, ENV);
    } catch (error) {
      code = error.name;
      break;
    }
    await sleep(300);
  }
  check("environment gone after delete", "ResourceNotFoundException", code);
  check("deprovision ran", false, existsSync(join(DIR, "provisioned")));
  await a.send(new DeleteEnvironmentTemplateVersionCommand({ templateName: TEMPLATE, majorVersion: "1", minorVersion: "0" }));
  await a.send(new DeleteEnvironmentTemplateCommand({ name: TEMPLATE }));
  ok("DeleteEnvironmentTemplateVersion, DeleteEnvironmentTemplate");
  await fails("template gone after delete", "ResourceNotFoundException", () =>
    a.send(new GetEnvironmentTemplateCommand({ name: TEMPLATE })),
  );
});
