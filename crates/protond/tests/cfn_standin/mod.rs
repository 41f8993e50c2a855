//! A CloudFormation stand-in: a small HTTP server on 127.0.0.1 that speaks the query protocol
//! the AWS SDK uses (form-encoded `POST /`, XML answers) for the operations protond calls, and
//! moves stacks through their states the way CloudFormation's documentation describes:
//! asynchronously, one step per `DescribeStacks`, with stack events.
//!
//! Each test scripts what every operation does ([`Script`]): the steps a create, an update, a
//! delete and a cancelled update go through, where they stop and wait ([`Step::Hold`]) until a
//! cancel comes, and whether a cancel arrives too late. moto cannot do any of this: everything
//! it does completes inside the call.

// Each test binary uses a different part of the stand-in.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One step of a stack operation.
#[derive(Debug, Clone)]
pub enum Step {
    /// The stack reaches this status, with this reason.
    Stack(&'static str, Option<&'static str>),
    /// A resource event, without a change of the stack's status.
    Resource(&'static str, &'static str, Option<&'static str>),
    /// The operation stays where it is until a cancel (CancelUpdateStack, or DeleteStack during
    /// a create) replaces what follows.
    Hold,
}

/// What each operation does.
#[derive(Debug, Clone)]
pub struct Script {
    /// After CreateStack (the stack starts `CREATE_IN_PROGRESS`).
    pub create: Vec<Step>,
    /// After UpdateStack (the stack starts `UPDATE_IN_PROGRESS`).
    pub update: Vec<Step>,
    /// After DeleteStack (the stack starts `DELETE_IN_PROGRESS`); a stack that reaches
    /// `DELETE_COMPLETE` is gone.
    pub delete: Vec<Step>,
    /// After CancelUpdateStack.
    pub cancel_update: Vec<Step>,
    /// CancelUpdateStack comes too late: the update completes and the call is refused.
    pub cancel_too_late: bool,
}

impl Default for Script {
    /// Every operation succeeds in a few steps, as CloudFormation's do.
    fn default() -> Self {
        use Step::*;
        Script {
            create: vec![
                Resource("Topic", "CREATE_IN_PROGRESS", None),
                Resource("Topic", "CREATE_COMPLETE", None),
                Stack("CREATE_COMPLETE", None),
            ],
            update: vec![
                Resource("Topic", "UPDATE_IN_PROGRESS", None),
                Resource("Topic", "UPDATE_COMPLETE", None),
                Stack("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None),
                Stack("UPDATE_COMPLETE", None),
            ],
            delete: vec![
                Resource("Topic", "DELETE_IN_PROGRESS", None),
                Resource("Topic", "DELETE_COMPLETE", None),
                Stack("DELETE_COMPLETE", None),
            ],
            cancel_update: vec![
                Stack("UPDATE_ROLLBACK_IN_PROGRESS", Some("User Initiated")),
                Resource("Topic", "UPDATE_IN_PROGRESS", None),
                Stack("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", None),
                Stack("UPDATE_ROLLBACK_COMPLETE", None),
            ],
            cancel_too_late: false,
        }
    }
}

/// A call the stand-in received: its action and form parameters.
#[derive(Debug, Clone)]
pub struct Call {
    pub action: String,
    pub params: HashMap<String, String>,
}

#[derive(Debug, Clone)]
struct Event {
    id: String,
    logical: String,
    kind: String,
    status: String,
    reason: Option<String>,
    at: u32,
}

#[derive(Debug)]
struct StackState {
    id: String,
    name: String,
    status: String,
    reason: Option<String>,
    template: String,
    pending: String,
    queue: VecDeque<Step>,
    events: Vec<Event>,
    outputs: Vec<(String, String)>,
    resources: Vec<(String, String)>,
}

struct World {
    script: Script,
    stacks: HashMap<String, StackState>,
    calls: Vec<Call>,
    clock: u32,
}

/// A running stand-in; it stops with the test's runtime.
#[derive(Clone)]
pub struct StandIn {
    addr: SocketAddr,
    world: Arc<Mutex<World>>,
}

impl StandIn {
    /// Starts a stand-in on a free port of 127.0.0.1 that follows `script`.
    pub async fn start(script: Script) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("an address");
        let world = Arc::new(Mutex::new(World {
            script,
            stacks: HashMap::new(),
            calls: Vec::new(),
            clock: 0,
        }));
        let app = axum::Router::new()
            .route("/", axum::routing::post(handle))
            .with_state(world.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        StandIn { addr, world }
    }

    /// The endpoint URL to give protond.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the script for operations that start from now on.
    pub fn set_script(&self, script: Script) {
        self.world.lock().unwrap().script = script;
    }

    /// Every call received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.world.lock().unwrap().calls.clone()
    }

    /// The actions received so far, in order, without the polling ones.
    pub fn actions(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .map(|c| c.action)
            .filter(|a| !a.starts_with("Describe") && a != "ListStackResources")
            .collect()
    }

    /// A stack's status, or None when it does not exist.
    pub fn status(&self, stack: &str) -> Option<String> {
        let world = self.world.lock().unwrap();
        world.stacks.get(stack).map(|s| s.status.clone())
    }
}

async fn handle(State(world): State<Arc<Mutex<World>>>, body: String) -> Response {
    let params = decode_form(&body);
    let action = params.get("Action").cloned().unwrap_or_default();
    let mut world = world.lock().unwrap();
    world.calls.push(Call {
        action: action.clone(),
        params: params.clone(),
    });
    let answer = match action.as_str() {
        "CreateStack" => create(&mut world, &params),
        "UpdateStack" => update(&mut world, &params),
        "DeleteStack" => delete(&mut world, &params),
        "CancelUpdateStack" => cancel_update(&mut world, &params),
        "DescribeStacks" => describe(&mut world, &params),
        "DescribeStackEvents" => events(&world, &params),
        "ListStackResources" => resources(&world, &params),
        other => Err(format!("the stand-in does not implement {other}")),
    };
    match answer {
        Ok(result) => xml(StatusCode::OK, &envelope(&action, &result)),
        Err(message) => xml(StatusCode::BAD_REQUEST, &error("ValidationError", &message)),
    }
}

type Answer = Result<String, String>;

fn name_of(params: &HashMap<String, String>) -> String {
    params.get("StackName").cloned().unwrap_or_default()
}

fn missing(name: &str) -> String {
    format!("Stack with id {name} does not exist")
}

fn create(world: &mut World, params: &HashMap<String, String>) -> Answer {
    let name = name_of(params);
    if world.stacks.contains_key(&name) {
        return Err(format!("Stack [{name}] already exists"));
    }
    let id = format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/1");
    let mut stack = StackState {
        id: id.clone(),
        name: name.clone(),
        status: String::new(),
        reason: None,
        template: String::new(),
        pending: params.get("TemplateBody").cloned().unwrap_or_default(),
        queue: world.script.create.clone().into(),
        events: Vec::new(),
        outputs: Vec::new(),
        resources: Vec::new(),
    };
    world.clock += 1;
    set_status(
        &mut stack,
        "CREATE_IN_PROGRESS",
        Some("User Initiated"),
        world.clock,
    );
    world.stacks.insert(name, stack);
    Ok(format!("<StackId>{id}</StackId>"))
}

fn update(world: &mut World, params: &HashMap<String, String>) -> Answer {
    let name = name_of(params);
    let queue = world.script.update.clone();
    world.clock += 1;
    let clock = world.clock;
    let stack = world.stacks.get_mut(&name).ok_or_else(|| missing(&name))?;
    let settled = [
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
    ];
    if !settled.contains(&stack.status.as_str()) {
        return Err(format!(
            "Stack:{} is in {} state and can not be updated.",
            stack.id, stack.status
        ));
    }
    let body = params.get("TemplateBody").cloned().unwrap_or_default();
    if body == stack.template {
        return Err("No updates are to be performed.".into());
    }
    stack.pending = body;
    stack.queue = queue.into();
    set_status(stack, "UPDATE_IN_PROGRESS", Some("User Initiated"), clock);
    Ok(format!("<StackId>{}</StackId>", stack.id))
}

fn delete(world: &mut World, params: &HashMap<String, String>) -> Answer {
    let name = name_of(params);
    let queue = world.script.delete.clone();
    world.clock += 1;
    let clock = world.clock;
    if let Some(stack) = world.stacks.get_mut(&name) {
        stack.queue = queue.into();
        set_status(stack, "DELETE_IN_PROGRESS", Some("User Initiated"), clock);
    }
    Ok(String::new())
}

fn cancel_update(world: &mut World, params: &HashMap<String, String>) -> Answer {
    let name = name_of(params);
    let (queue, too_late) = (
        world.script.cancel_update.clone(),
        world.script.cancel_too_late,
    );
    world.clock += 1;
    let clock = world.clock;
    let stack = world.stacks.get_mut(&name).ok_or_else(|| missing(&name))?;
    let refused = format!(
        "Stack:{} is in {} state and can not be cancelled.",
        stack.id, stack.status
    );
    if stack.status != "UPDATE_IN_PROGRESS" {
        return Err(refused);
    }
    if too_late {
        // The update finished between protond's last look and its cancel.
        set_status(stack, "UPDATE_COMPLETE", None, clock);
        stack.queue.clear();
        return Err(format!(
            "Stack:{} is in UPDATE_COMPLETE state and can not be cancelled.",
            stack.id
        ));
    }
    stack.queue = queue.into();
    Ok(String::new())
}

fn describe(world: &mut World, params: &HashMap<String, String>) -> Answer {
    let name = name_of(params);
    world.clock += 1;
    let clock = world.clock;
    let stack = world.stacks.get_mut(&name).ok_or_else(|| missing(&name))?;
    let answer = stack_xml(stack);
    advance(stack, clock);
    if stack.status == "DELETE_COMPLETE" {
        world.stacks.remove(&name);
    }
    Ok(answer)
}

/// Takes the next step of the stack's operation: resource events up to the next change of the
/// stack's status.
fn advance(stack: &mut StackState, clock: u32) {
    while let Some(step) = stack.queue.pop_front() {
        match step {
            Step::Hold => {
                stack.queue.push_front(Step::Hold);
                return;
            }
            Step::Resource(logical, status, reason) => {
                let kind = resource_type(&stack.pending, logical);
                push_event(stack, logical, &kind, status, reason, clock);
            }
            Step::Stack(status, reason) => {
                set_status(stack, status, reason, clock);
                return;
            }
        }
    }
}

fn set_status(stack: &mut StackState, status: &str, reason: Option<&str>, clock: u32) {
    stack.status = status.to_owned();
    stack.reason = reason.map(str::to_owned);
    if matches!(status, "CREATE_COMPLETE" | "UPDATE_COMPLETE") {
        stack.template = stack.pending.clone();
        let (resources, outputs) = read_template(&stack.template, &stack.name);
        stack.resources = resources;
        stack.outputs = outputs;
    }
    let name = stack.name.clone();
    push_event(
        stack,
        &name,
        "AWS::CloudFormation::Stack",
        status,
        reason,
        clock,
    );
}

fn push_event(
    stack: &mut StackState,
    logical: &str,
    kind: &str,
    status: &str,
    reason: Option<&str>,
    clock: u32,
) {
    let id = format!("{}-{}", stack.name, stack.events.len() + 1);
    stack.events.push(Event {
        id,
        logical: logical.to_owned(),
        kind: kind.to_owned(),
        status: status.to_owned(),
        reason: reason.map(str::to_owned),
        at: clock,
    });
}

/// Pairs of names and values.
type Pairs = Vec<(String, String)>;

/// The resources (logical id, type) and the outputs of a template. Outputs given as plain text
/// keep it; the others (`!Ref`, `!GetAtt`) get a made-up value.
fn read_template(body: &str, stack: &str) -> (Pairs, Pairs) {
    let Ok(doc) = serde_norway::from_str::<serde_norway::Value>(body) else {
        return (Vec::new(), Vec::new());
    };
    let mapping = |key: &str| doc.get(key).and_then(|v| v.as_mapping()).cloned();
    let resources = mapping("Resources")
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let kind = v.get("Type")?.as_str()?.to_owned();
            Some((k.as_str()?.to_owned(), kind))
        })
        .collect();
    let outputs = mapping("Outputs")
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let key = k.as_str()?.to_owned();
            let value = match v.get("Value") {
                Some(serde_norway::Value::String(text)) => text.clone(),
                _ => format!("{stack}-{key}-value"),
            };
            Some((key, value))
        })
        .collect();
    (resources, outputs)
}

fn resource_type(body: &str, logical: &str) -> String {
    let (resources, _) = read_template(body, "");
    resources
        .into_iter()
        .find(|(l, _)| l == logical)
        .map(|(_, kind)| kind)
        .unwrap_or_else(|| "AWS::SNS::Topic".into())
}

fn events(world: &World, params: &HashMap<String, String>) -> Answer {
    let name = name_of(params);
    let stack = world.stacks.get(&name).ok_or_else(|| missing(&name))?;
    let mut out = String::from("<StackEvents>");
    for event in stack.events.iter().rev() {
        out.push_str(&format!(
            "<member><StackId>{}</StackId><EventId>{}</EventId><StackName>{}</StackName>\
             <LogicalResourceId>{}</LogicalResourceId><ResourceType>{}</ResourceType>\
             <Timestamp>{}</Timestamp><ResourceStatus>{}</ResourceStatus>{}</member>",
            escape(&stack.id),
            escape(&event.id),
            escape(&stack.name),
            escape(&event.logical),
            escape(&event.kind),
            timestamp(event.at),
            escape(&event.status),
            optional("ResourceStatusReason", event.reason.as_deref()),
        ));
    }
    out.push_str("</StackEvents>");
    Ok(out)
}

fn resources(world: &World, params: &HashMap<String, String>) -> Answer {
    let name = name_of(params);
    let stack = world.stacks.get(&name).ok_or_else(|| missing(&name))?;
    let mut out = String::from("<StackResourceSummaries>");
    for (logical, kind) in &stack.resources {
        out.push_str(&format!(
            "<member><LogicalResourceId>{}</LogicalResourceId>\
             <PhysicalResourceId>{}-{}</PhysicalResourceId><ResourceType>{}</ResourceType>\
             <LastUpdatedTimestamp>{}</LastUpdatedTimestamp>\
             <ResourceStatus>CREATE_COMPLETE</ResourceStatus></member>",
            escape(logical),
            escape(&stack.name),
            escape(logical),
            escape(kind),
            timestamp(1),
        ));
    }
    out.push_str("</StackResourceSummaries>");
    Ok(out)
}

fn stack_xml(stack: &StackState) -> String {
    let mut outputs = String::new();
    for (key, value) in &stack.outputs {
        outputs.push_str(&format!(
            "<member><OutputKey>{}</OutputKey><OutputValue>{}</OutputValue></member>",
            escape(key),
            escape(value)
        ));
    }
    format!(
        "<Stacks><member><StackId>{}</StackId><StackName>{}</StackName>\
         <CreationTime>{}</CreationTime><StackStatus>{}</StackStatus>{}\
         <Outputs>{outputs}</Outputs></member></Stacks>",
        escape(&stack.id),
        escape(&stack.name),
        timestamp(0),
        escape(&stack.status),
        optional("StackStatusReason", stack.reason.as_deref()),
    )
}

fn optional(element: &str, text: Option<&str>) -> String {
    text.map(|t| format!("<{element}>{}</{element}>", escape(t)))
        .unwrap_or_default()
}

/// A time on the stand-in's clock, one second per tick.
fn timestamp(tick: u32) -> String {
    let (h, m, s) = (tick / 3600 % 24, tick / 60 % 60, tick % 60);
    format!("2026-01-01T{h:02}:{m:02}:{s:02}.000Z")
}

fn envelope(action: &str, result: &str) -> String {
    format!(
        "<{action}Response xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
         <{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata>\
         </{action}Response>"
    )
}

fn error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
         <Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error>\
         <RequestId>standin</RequestId></ErrorResponse>",
        escape(message)
    )
}

fn xml(status: StatusCode, body: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, "text/xml".parse().unwrap());
    headers.insert("x-amzn-requestid", "standin".parse().unwrap());
    (status, headers, body.to_owned()).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Decodes `application/x-www-form-urlencoded` text.
fn decode_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
