//! The other side: a process that finds its store held talks to the holder through this.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use benchtop_core::{RunId, RunRecord};
use benchtop_runner::Outcome;
use benchtop_store::{Artifact, Deleted, LogLine, RunFilter, RunSource, StoreError, Unreadable};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::workers::{Claim, Claimed, WorkerBatch};
use crate::{ApiError, Hello, LaunchLine, LaunchRequest, RunIds, RunList, decode_points, socket_path};

/// How long connecting to a holder may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
enum Endpoint {
    Unix(PathBuf),
    Tcp { addr: String, token: String },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
            Endpoint::Tcp { addr, .. } => write!(f, "{addr}"),
        }
    }
}

/// A connection to the process holding a store. Its calls block (it runs its own small
/// runtime), so it must not be called from inside another tokio runtime.
pub struct Remote {
    endpoint: Endpoint,
    hello: Hello,
    runtime: tokio::runtime::Runtime,
    skipped: Mutex<Vec<Unreadable>>,
}

type Result<T> = std::result::Result<T, StoreError>;

impl Remote {
    /// The holder of the store in `store_dir`, if one answers on its socket. `None` when
    /// there is no socket or nobody answers on it (a holder that crashed leaves one behind).
    /// A holder of another Benchtop version is an error: the API's types are this version's.
    pub fn find(store_dir: &Path) -> Result<Option<Remote>> {
        let socket = socket_path(store_dir);
        if !socket.exists() {
            return Ok(None);
        }
        match Remote::connect(Endpoint::Unix(socket)) {
            Ok(remote) => Ok(Some(remote)),
            Err(Unreachable(_)) => Ok(None),
            Err(Refused(e)) => Err(e),
        }
    }

    /// A holder listening on TCP at `addr` (host:port), with its token.
    pub fn tcp(addr: &str, token: &str) -> Result<Remote> {
        match Remote::connect(Endpoint::Tcp { addr: addr.to_owned(), token: token.to_owned() }) {
            Ok(remote) => Ok(remote),
            Err(Unreachable(message) | Refused(StoreError::Remote(message))) => Err(StoreError::Remote(message)),
            Err(Refused(e)) => Err(e),
        }
    }

    fn connect(endpoint: Endpoint) -> std::result::Result<Remote, Failure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Refused(StoreError::Remote(format!("starting the client's runtime: {e}"))))?;
        let hello = runtime.block_on(fetch(&endpoint, Method::GET, "/v1/hello", None))?;
        let hello: Hello = decode(&endpoint, &hello).map_err(Refused)?;
        if hello.version != benchtop_core::VERSION {
            return Err(Refused(StoreError::Remote(format!(
                "the store at {} is held by {} (pid {}) of Benchtop {}, and this is {}: use the same version on both sides",
                hello.store.display(),
                hello.holder,
                hello.pid,
                hello.version,
                benchtop_core::VERSION
            ))));
        }
        Ok(Remote { endpoint, hello, runtime, skipped: Mutex::default() })
    }

    /// Who holds the store.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    fn get<T: DeserializeOwned>(&self, path: &str, args: &impl Serialize) -> Result<T> {
        let bytes = self.get_bytes(path, args)?;
        decode(&self.endpoint, &bytes)
    }

    fn get_bytes(&self, path: &str, args: &impl Serialize) -> Result<Bytes> {
        let query = serde_urlencoded::to_string(args).map_err(|e| StoreError::Remote(format!("encoding a request: {e}")))?;
        let uri = if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") };
        self.runtime.block_on(fetch(&self.endpoint, Method::GET, &uri, None)).map_err(Failure::into_error)
    }

    fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let body = serde_json::to_vec(body).map_err(|e| StoreError::Remote(format!("encoding a request: {e}")))?;
        let bytes = self.runtime.block_on(fetch(&self.endpoint, Method::POST, path, Some(body))).map_err(Failure::into_error)?;
        decode(&self.endpoint, &bytes)
    }

    /// Delete runs through the holder (its store's rule: queued or running runs stay).
    pub fn delete(&self, runs: &[RunId]) -> Result<Deleted> {
        self.post("/v1/delete", &RunIds { runs: runs.to_vec() })
    }

    /// Cancel runs through the holder; returns the runs dequeued at once.
    pub fn cancel(&self, runs: &[RunId]) -> Result<Vec<RunId>> {
        self.post("/v1/cancel", &RunIds { runs: runs.to_vec() })
    }

    /// A worker takes its run (see [`crate::workers`]).
    pub fn claim(&self, claim: &Claim) -> Result<Claimed> {
        self.post("/v1/worker/claim", claim)
    }

    /// The checkpoint a worker's run goes on from, as stored.
    pub fn worker_checkpoint(&self, run: RunId) -> Result<Vec<u8>> {
        Ok(self.get_bytes("/v1/worker/checkpoint", &[("run", run.to_string())])?.to_vec())
    }

    /// A worker's events since its last batch, in order.
    pub fn send_events(&self, batch: &WorkerBatch) -> Result<()> {
        self.post("/v1/worker/events", batch)
    }

    /// A worker's checkpoint (its encoded bytes), after every event before it.
    pub fn send_checkpoint(&self, run: RunId, bytes: Vec<u8>) -> Result<()> {
        let query =
            serde_urlencoded::to_string([("run", run.to_string())]).map_err(|e| StoreError::Remote(format!("encoding a request: {e}")))?;
        self.put(&format!("/v1/worker/checkpoint?{query}"), bytes)
    }

    /// A file a worker's run kept, under its name.
    pub fn send_artifact(&self, run: RunId, name: &str, bytes: Vec<u8>) -> Result<()> {
        let query = serde_urlencoded::to_string([("run", run.to_string().as_str()), ("name", name)])
            .map_err(|e| StoreError::Remote(format!("encoding a request: {e}")))?;
        self.put(&format!("/v1/worker/artifact?{query}"), bytes)
    }

    fn put(&self, uri: &str, body: Vec<u8>) -> Result<()> {
        let bytes = self.runtime.block_on(fetch(&self.endpoint, Method::PUT, uri, Some(body))).map_err(Failure::into_error)?;
        decode(&self.endpoint, &bytes)
    }

    /// Launch through the holder and follow it: `on_line` sees every line of the answer as
    /// it comes, the launch's outcome last. `interrupt` resolving (Ctrl-C, say) cancels the
    /// launch's runs through the holder; the answer is still followed to its outcome.
    pub fn launch<I>(&self, request: &LaunchRequest, mut on_line: impl FnMut(&LaunchLine), interrupt: I) -> Result<Outcome>
    where
        I: std::future::Future<Output = ()>,
    {
        let body = serde_json::to_vec(request).map_err(|e| StoreError::Remote(format!("encoding a request: {e}")))?;
        let endpoint = self.endpoint.clone();
        self.runtime.block_on(async move {
            let response = send(&endpoint, Method::POST, "/v1/launch", Some(body)).await.map_err(Failure::into_error)?;
            let status = response.status();
            let mut body = response.into_body();
            if !status.is_success() {
                let bytes = body.collect().await.map_err(|e| lost(&endpoint, e))?.to_bytes();
                return Err(refusal(&endpoint, status, &bytes));
            }
            let mut interrupt = std::pin::pin!(interrupt);
            let mut interrupted = false;
            // An interrupt before the holder said which runs it queued cancels them once it has.
            let mut cancel_when_queued = false;
            let mut ids: Vec<RunId> = Vec::new();
            let mut pending: Vec<u8> = Vec::new();
            loop {
                let frame = tokio::select! {
                    biased;
                    frame = body.frame() => frame,
                    () = &mut interrupt, if !interrupted => {
                        interrupted = true;
                        if ids.is_empty() {
                            cancel_when_queued = true;
                        } else {
                            cancel_async(&endpoint, &ids).await?;
                        }
                        continue;
                    }
                };
                let Some(frame) = frame else {
                    return Err(StoreError::Remote(format!(
                        "the holder at {endpoint} closed the launch before its end (did it stop?); its runs read `interrupted` and can be resumed"
                    )));
                };
                let frame = frame.map_err(|e| lost(&endpoint, e))?;
                let Ok(data) = frame.into_data() else { continue };
                pending.extend_from_slice(&data);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let line: LaunchLine = serde_json::from_slice(&line[..end])
                        .map_err(|e| StoreError::Remote(format!("the holder at {endpoint} sent a malformed launch line: {e}")))?;
                    if let LaunchLine::Queued { runs, .. } = &line {
                        ids.clone_from(runs);
                        if cancel_when_queued {
                            cancel_async(&endpoint, &ids).await?;
                        }
                    }
                    on_line(&line);
                    if let LaunchLine::Outcome(outcome) = line {
                        return Ok(outcome);
                    }
                }
            }
        })
    }
}

async fn cancel_async(endpoint: &Endpoint, ids: &[RunId]) -> Result<()> {
    let body = serde_json::to_vec(&RunIds { runs: ids.to_vec() }).map_err(|e| StoreError::Remote(format!("encoding a request: {e}")))?;
    fetch(endpoint, Method::POST, "/v1/cancel", Some(body)).await.map_err(Failure::into_error)?;
    Ok(())
}

impl RunSource for Remote {
    fn location(&self) -> &Path {
        &self.hello.store
    }

    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let list: RunList = self.get("/v1/runs", filter)?;
        *self.skipped.lock().unwrap_or_else(|p| p.into_inner()) = list.unreadable;
        Ok(list.runs)
    }

    fn skipped(&self) -> Vec<Unreadable> {
        self.skipped.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn find(&self, text: &str) -> Result<RunRecord> {
        self.get("/v1/run", &[("key", text)])
    }

    fn series_of(&self, run: RunId) -> Result<Vec<String>> {
        self.get("/v1/series", &[("run", run.to_string())])
    }

    fn points(&self, run: RunId, name: &str) -> Result<Vec<(u64, f64)>> {
        let bytes = self.get_bytes("/v1/points", &[("run", run.to_string().as_str()), ("name", name)])?;
        decode_points(&bytes).ok_or_else(|| StoreError::Remote(format!("the holder at {} sent a malformed series", self.endpoint)))
    }

    fn log_lines(&self, run: RunId) -> Result<Vec<LogLine>> {
        self.get("/v1/logs", &[("run", run.to_string())])
    }

    fn artifact_list(&self, run: RunId) -> Result<Vec<Artifact>> {
        self.get("/v1/artifacts", &[("run", run.to_string())])
    }
}

/// Why a request got no answer: nobody there, or an answer refusing it.
enum Failure {
    Unreachable(String),
    Refused(StoreError),
}
use Failure::{Refused, Unreachable};

impl Failure {
    fn into_error(self) -> StoreError {
        match self {
            Unreachable(message) => StoreError::Remote(message),
            Refused(e) => e,
        }
    }
}

fn lost(endpoint: &Endpoint, e: impl std::fmt::Display) -> StoreError {
    StoreError::Remote(format!("the holder at {endpoint} stopped answering: {e}"))
}

fn decode<T: DeserializeOwned>(endpoint: &Endpoint, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Remote(format!("the holder at {endpoint} sent a malformed answer: {e}")))
}

/// A refusal's one line, as the holder worded it. The holder's errors are the store's own
/// words, so they read as when this process holds the store.
fn refusal(endpoint: &Endpoint, status: StatusCode, bytes: &[u8]) -> StoreError {
    match serde_json::from_slice::<ApiError>(bytes) {
        Ok(ApiError { error }) => StoreError::Remote(error),
        Err(_) => StoreError::Remote(format!("the holder at {endpoint} answered {status}: {}", String::from_utf8_lossy(bytes).trim())),
    }
}

/// One request and its whole answer; a non-success answer is its refusal.
/// A holder whose machine went away mid-answer leaves no error to read: after this long the
/// request counts as lost (a worker sends it again). Launches stream, and are not fetched.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(180);

async fn fetch(endpoint: &Endpoint, method: Method, uri: &str, body: Option<Vec<u8>>) -> std::result::Result<Bytes, Failure> {
    let whole = async {
        let response = send(endpoint, method, uri, body).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await.map_err(|e| Refused(lost(endpoint, e)))?.to_bytes();
        if status.is_success() { Ok(bytes) } else { Err(Refused(refusal(endpoint, status, &bytes))) }
    };
    tokio::time::timeout(ANSWER_TIMEOUT, whole).await.unwrap_or_else(|_| Err(Refused(lost(endpoint, "no answer within 3 minutes"))))
}

/// Open a connection (one per request: a local socket costs microseconds) and send.
async fn send(
    endpoint: &Endpoint,
    method: Method,
    uri: &str,
    body: Option<Vec<u8>>,
) -> std::result::Result<hyper::Response<hyper::body::Incoming>, Failure> {
    let unreachable = |e: &dyn std::fmt::Display| Unreachable(format!("cannot reach the store's holder at {endpoint}: {e}"));
    let mut builder = Request::builder().method(method).uri(uri).header(header::HOST, "benchtop");
    if let Endpoint::Tcp { token, .. } = endpoint {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| Refused(StoreError::Remote(format!("building a request: {e}"))))?;
    macro_rules! over {
        ($stream:expr) => {{
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, $stream)
                .await
                .map_err(|_| unreachable(&"no answer within 5 s"))?
                .map_err(|e| unreachable(&e))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unreachable(&e))?;
            tokio::spawn(connection);
            sender.send_request(request).await.map_err(|e| Refused(lost(endpoint, e)))
        }};
    }
    match endpoint {
        Endpoint::Unix(path) => over!(tokio::net::UnixStream::connect(path)),
        Endpoint::Tcp { addr, .. } => over!(tokio::net::TcpStream::connect(addr.as_str())),
    }
}
