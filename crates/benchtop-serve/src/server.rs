//! The holder's side: an axum router over the open store and the holder's runner.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use benchtop_core::experiment::Experiment;
use benchtop_core::{Executor, Registry, RunEvent, RunId, RunPlan, SlurmOptions};
use benchtop_runner::{Cancel, Outcome, Runner};
use benchtop_store::{RunFilter, Store, StoreError};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use crate::slurm::{Reach, SlurmLauncher};
use crate::workers::{Claim, Claimed, WorkerBatch, Workers};
use crate::{ApiError, Hello, LaunchLine, LaunchRequest, RunIds, RunList, encode_points, socket_path};

/// The largest request body the holder reads (a launch's experiment files are kilobytes).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// The largest artifact or checkpoint a worker may send.
const MAX_FILE: usize = 1024 * 1024 * 1024;

/// The environment variable holding the token of a holder that listens on TCP (both sides).
pub const TOKEN_ENV: &str = "BENCHTOP_TOKEN";

/// How the holder trains what the API launches: the app's own launches (so the window
/// follows them live) or, for `benchtop serve`, a [`Pool`].
pub trait Launcher: Send + Sync + 'static {
    /// The runner over the held store (enqueue, requeue and cancel go through it).
    fn runner(&self) -> &Runner;
    /// Runs trained at a time.
    fn jobs(&self) -> usize;
    /// Train these queued runs; `observe` sees each event once it is stored. The receiver
    /// gets the launch's outcome.
    fn start(&self, runs: Vec<RunId>, observe: Box<dyn Fn(&RunEvent) + Send>) -> oneshot::Receiver<Outcome>;
    /// Cancel runs (see [`Runner::cancel`]); returns the runs dequeued at once.
    fn cancel(&self, runs: &[RunId]) -> Result<Vec<RunId>, StoreError> {
        self.runner().cancel(runs)
    }
}

/// `benchtop serve`'s launcher: launches take turns on one pool of `jobs` runs, as the app's.
pub struct Pool {
    store: Arc<Store>,
    runner: Arc<Runner>,
    jobs: usize,
    turns: Arc<tokio::sync::Mutex<()>>,
    /// Launches started and not yet ended.
    active: Arc<std::sync::atomic::AtomicUsize>,
}

impl Pool {
    pub fn new(store: Arc<Store>, registry: Registry, jobs: usize) -> Self {
        let runner = Arc::new(Runner::new(store.clone(), registry, jobs));
        Pool { store, runner, jobs: jobs.max(1), turns: Arc::default(), active: Arc::default() }
    }

    /// Launches started and not yet ended.
    pub fn active(&self) -> usize {
        self.active.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Wait until every launch has ended.
    pub async fn wait(&self) {
        while self.active() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Cancel every run queued or training, and wait (a minute at most) until every launch
    /// has stored how its runs ended.
    pub async fn stop(&self) {
        use std::sync::atomic::Ordering;
        let busy: Vec<RunId> = self
            .store
            .runs(&RunFilter::default())
            .map(|runs| runs.iter().filter(|r| !r.status.is_final()).map(|r| r.id).collect())
            .unwrap_or_default();
        let _ = self.runner.cancel(&busy);
        let since = std::time::Instant::now();
        while self.active.load(Ordering::SeqCst) > 0 && since.elapsed() < std::time::Duration::from_secs(60) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Launcher for Pool {
    fn runner(&self) -> &Runner {
        &self.runner
    }
    fn jobs(&self) -> usize {
        self.jobs
    }
    fn start(&self, runs: Vec<RunId>, observe: Box<dyn Fn(&RunEvent) + Send>) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        let (runner, turns, active) = (self.runner.clone(), self.turns.clone(), self.active.clone());
        active.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::spawn(async move {
            let _turn = turns.lock().await;
            let outcome = runner.execute(runs, Cancel::new(), observe).await;
            active.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            let _ = tx.send(outcome);
        });
        rx
    }
}

/// What the API serves: the open store, the holder's studies and its launchers.
pub struct Holder {
    pub store: Arc<Store>,
    pub registry: Registry,
    pub launcher: Arc<dyn Launcher>,
    /// Who holds the store, for messages: `benchtop serve` or `the app`.
    pub name: String,
    /// Runs training in other processes (Slurm tasks) that report here.
    pub workers: Arc<Workers>,
    /// Launches on Slurm, where the holder listens on TCP for its workers.
    pub slurm: Option<Arc<SlurmLauncher>>,
}

impl Holder {
    /// A holder launching through `launcher`, not on Slurm (see [`Holder::with_slurm`]).
    pub fn new(store: Arc<Store>, registry: Registry, launcher: Arc<dyn Launcher>, name: &str) -> Self {
        Holder { store, registry, launcher, name: name.to_owned(), workers: Arc::default(), slurm: None }
    }

    /// `benchtop serve`'s holder: a [`Pool`] of `jobs`.
    pub fn pool(store: Arc<Store>, registry: Registry, jobs: usize) -> Self {
        let launcher = Arc::new(Pool::new(store.clone(), registry.clone(), jobs));
        Holder::new(store, registry, launcher, "benchtop serve")
    }

    /// Launch experiments whose `executor` is Slurm as job arrays whose workers reach this
    /// holder at `reach` (its TCP listener, with the token), or, with `None` or where a file
    /// asks for it, through the launch's inbox on the shared file system.
    pub fn with_slurm(mut self, reach: Option<Reach>) -> Self {
        self.slurm = Some(Arc::new(SlurmLauncher::new(self.store.clone(), self.workers.clone(), reach)));
        self
    }
}

/// A listener being served; dropping it stops serving (and removes the socket).
pub struct Serving {
    task: tokio::task::JoinHandle<()>,
    socket: Option<PathBuf>,
    /// Where it listens.
    pub at: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(path) = &self.socket {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Serve `holder` on the Unix socket beside its store, readable and writable by its owner
/// only. Call inside a tokio runtime. A socket left by a holder that crashed is replaced
/// (this process holds the store's lock, so no other holder is live).
pub fn serve_unix(holder: Arc<Holder>) -> std::io::Result<Serving> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(holder.store.path());
    let err = |e: std::io::Error| std::io::Error::new(e.kind(), format!("serving the store on {}: {e}", path.display()));
    // Bound under a private name, narrowed to the owner, then renamed into place: the socket
    // is never reachable at its known name with wider permissions.
    let staging = path.with_file_name(format!(".benchtop.sock.{}", std::process::id()));
    let _ = std::fs::remove_file(&staging);
    let listener = tokio::net::UnixListener::bind(&staging).map_err(err)?;
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    std::fs::rename(&staging, &path).map_err(err)?;
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => connection(stream, holder.clone(), None),
                // Out of file descriptors, say: wait rather than spin or stop serving.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    });
    Ok(Serving { task, at: path.display().to_string(), socket: Some(path) })
}

/// Bind a TCP listener for [`serve_tcp`] (bound first, so a holder can learn its port and
/// tell its workers before it serves). Call inside a tokio runtime.
pub async fn bind_tcp(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| std::io::Error::new(e.kind(), format!("listening on {addr}: {e}")))
}

/// The address other machines reach `listener` at: its own, or this host's name for a
/// listener on every interface.
pub fn advertised(listener: &tokio::net::TcpListener) -> std::io::Result<String> {
    let local = listener.local_addr()?;
    if local.ip().is_unspecified() {
        Ok(format!("{}:{}", gethostname::gethostname().to_string_lossy(), local.port()))
    } else {
        Ok(local.to_string())
    }
}

/// Where workers reach a holder on `listener` with `token`.
pub fn reach(listener: &tokio::net::TcpListener, token: String) -> std::io::Result<Reach> {
    Ok(Reach { bind: listener.local_addr()?, address: advertised(listener)?, token })
}

/// Serve `holder` on a bound TCP listener; every request must carry
/// `Authorization: Bearer TOKEN` with one of `tokens` (a holder that took back launches on
/// Slurm also takes the tokens their workers were given). Call inside a tokio runtime.
pub fn serve_tcp(holder: Arc<Holder>, listener: tokio::net::TcpListener, tokens: Vec<String>) -> std::io::Result<Serving> {
    if tokens.is_empty() || tokens.iter().any(|t| t.len() < 16) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "a TCP holder's token must be at least 16 characters"));
    }
    let at = listener.local_addr()?.to_string();
    let token = Arc::new(tokens);
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connection(stream, holder.clone(), Some(token.clone()))
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
    });
    Ok(Serving { task, socket: None, at })
}

/// A fresh random token for a TCP holder: 32 bytes from the operating system's generator, as hex.
pub fn new_token() -> std::io::Result<String> {
    use rand::TryRngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|e| std::io::Error::other(format!("the system's random generator: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

type Body = BoxBody<Bytes, Infallible>;

/// Answer one connection's requests (HTTP/1.1 keeps it open for more).
fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S, holder: Arc<Holder>, token: Option<Arc<Vec<String>>>) {
    tokio::spawn(async move {
        let service = hyper::service::service_fn(move |request| {
            let (holder, token) = (holder.clone(), token.clone());
            async move { Ok::<_, Infallible>(answer(holder, token.as_deref().map(Vec::as_slice), request).await) }
        });
        // A connection that sends no complete request head within 10 s is closed: on TCP,
        // before its token is read, it could otherwise hold a socket for ever.
        let _ = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(std::time::Duration::from_secs(10))
            .serve_connection(TokioIo::new(stream), service)
            .await;
    });
}

async fn answer(holder: Arc<Holder>, tokens: Option<&[String]>, request: Request<Incoming>) -> Response<Body> {
    if let Some(tokens) = tokens
        && let Err(refusal) = check_token(tokens, &request)
    {
        return refusal.into_response();
    }
    route(holder, request).await.unwrap_or_else(Refusal::into_response)
}

fn check_token(tokens: &[String], request: &Request<Incoming>) -> Result<(), Refusal> {
    let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        // Every token is compared, so the time says nothing of which one matched.
        Some(t) if tokens.iter().fold(false, |any, token| same(t.as_bytes(), token.as_bytes()) | any) => Ok(()),
        Some(_) => Err(Refusal(StatusCode::UNAUTHORIZED, format!("the holder refused the token (check {TOKEN_ENV})"))),
        None => Err(Refusal(StatusCode::UNAUTHORIZED, format!("this holder listens on TCP and needs its token (set {TOKEN_ENV})"))),
    }
}

/// Equal in time independent of where the strings first differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn route(h: Arc<Holder>, request: Request<Incoming>) -> Result<Response<Body>, Refusal> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    match (request.method(), path.as_str()) {
        (&Method::GET, "/v1/hello") => json(&Hello {
            version: benchtop_core::VERSION.to_owned(),
            store: h.store.path().to_path_buf(),
            pid: std::process::id(),
            holder: h.name.clone(),
            jobs: h.launcher.jobs(),
        }),
        (&Method::GET, "/v1/runs") => {
            let filter: RunFilter = args(&query)?;
            blocking(move || {
                // One listing and its skipped records together: a concurrent listing (the
                // app's own) must not swap the skipped list in between.
                static LISTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
                let _one = LISTING.lock().unwrap_or_else(|p| p.into_inner());
                let runs = h.store.runs(&filter)?;
                json(&RunList { runs, unreadable: h.store.unreadable() })
            })
            .await
        }
        (&Method::GET, "/v1/run") => {
            let Key { key } = args(&query)?;
            blocking(move || json(&h.store.find_run(&key)?)).await
        }
        (&Method::GET, "/v1/series") => {
            let RunArg { run } = args(&query)?;
            blocking(move || json(&h.store.series_names(run)?)).await
        }
        (&Method::GET, "/v1/points") => {
            let SeriesArg { run, name } = args(&query)?;
            blocking(move || Ok(reply(StatusCode::OK, "application/octet-stream", encode_points(&h.store.series(run, &name)?)))).await
        }
        (&Method::GET, "/v1/logs") => {
            let RunArg { run } = args(&query)?;
            blocking(move || json(&h.store.logs(run)?)).await
        }
        (&Method::GET, "/v1/artifacts") => {
            let RunArg { run } = args(&query)?;
            blocking(move || json(&h.store.artifacts(run)?)).await
        }
        (&Method::POST, "/v1/delete") => {
            let RunIds { runs } = body(request).await?;
            blocking(move || json(&h.store.delete_runs(&runs)?)).await
        }
        (&Method::POST, "/v1/cancel") => {
            let RunIds { runs } = body(request).await?;
            blocking(move || {
                if let Some(slurm) = &h.slurm {
                    slurm.cancel(&runs);
                }
                json(&h.launcher.cancel(&runs)?)
            })
            .await
        }
        (&Method::POST, "/v1/worker/claim") => {
            let claim: Claim = body(request).await?;
            blocking(move || claim_run(&h, claim)).await
        }
        (&Method::GET, "/v1/worker/checkpoint") => {
            let RunArg { run } = args(&query)?;
            blocking(move || {
                expected(&h, run)?;
                let bytes = std::fs::read(h.store.checkpoint_path(run))
                    .map_err(|e| Refusal(StatusCode::NOT_FOUND, format!("run {run} has no checkpoint here: {e}")))?;
                Ok(reply(StatusCode::OK, "application/octet-stream", bytes))
            })
            .await
        }
        (&Method::POST, "/v1/worker/events") => {
            let WorkerBatch { run, events } = body(request).await?;
            blocking(move || {
                let events = events.into_iter().map(|e| e.into_run_event(run)).collect();
                h.workers.send(run, events).map_err(|e| Refusal(StatusCode::CONFLICT, e.to_string()))?;
                json(&())
            })
            .await
        }
        (&Method::PUT, "/v1/worker/checkpoint") => {
            let RunArg { run } = args(&query)?;
            let bytes = raw_body(request, MAX_FILE).await?;
            blocking(move || {
                record_checkpoint(&h.workers, run, &bytes)?;
                json(&())
            })
            .await
        }
        (&Method::PUT, "/v1/worker/artifact") => {
            let ArtifactArg { run, name } = args(&query)?;
            let bytes = raw_body(request, MAX_FILE).await?;
            blocking(move || {
                record_artifact(&h.store, &h.workers, run, &name, &bytes)?;
                json(&())
            })
            .await
        }
        (&Method::POST, "/v1/launch") => {
            let launch: LaunchRequest = body(request).await?;
            start_launch(h, launch).await
        }
        (
            _,
            "/v1/hello"
            | "/v1/runs"
            | "/v1/run"
            | "/v1/series"
            | "/v1/points"
            | "/v1/logs"
            | "/v1/artifacts"
            | "/v1/delete"
            | "/v1/cancel"
            | "/v1/launch"
            | "/v1/worker/claim"
            | "/v1/worker/checkpoint"
            | "/v1/worker/events"
            | "/v1/worker/artifact",
        ) => Err(Refusal(StatusCode::METHOD_NOT_ALLOWED, format!("{} is not allowed on {path}", request.method()))),
        _ => Err(Refusal(StatusCode::NOT_FOUND, format!("no route {path} in this holder's API (v1)"))),
    }
}

/// A refused request: its status and one line for a person.
pub(crate) struct Refusal(StatusCode, pub(crate) String);

impl Refusal {
    fn into_response(self) -> Response<Body> {
        let body = serde_json::to_vec(&ApiError { error: self.1 }).unwrap_or_default();
        reply(self.0, "application/json", body)
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        let status = match e {
            StoreError::NoSuchRun(_) => StatusCode::NOT_FOUND,
            StoreError::AmbiguousRun { .. } | StoreError::Query(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Refusal(status, e.to_string())
    }
}

fn bad(e: impl std::fmt::Display) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, e.to_string())
}

fn reply(status: StatusCode, content_type: &'static str, bytes: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json<T: Serialize>(value: &T) -> Result<Response<Body>, Refusal> {
    let bytes = serde_json::to_vec(value).map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the answer: {e}")))?;
    Ok(reply(StatusCode::OK, "application/json", bytes))
}

/// A request's query arguments.
fn args<T: DeserializeOwned>(query: &str) -> Result<T, Refusal> {
    serde_urlencoded::from_str(query).map_err(|e| bad(format!("malformed request arguments: {e}")))
}

/// A request's JSON body, at most [`MAX_BODY`] bytes.
async fn body<T: DeserializeOwned>(request: Request<Incoming>) -> Result<T, Refusal> {
    let bytes = raw_body(request, MAX_BODY).await?;
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("malformed request body: {e}")))
}

/// A request's body as bytes, at most `limit`.
async fn raw_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, Refusal> {
    Ok(Limited::new(request.into_body(), limit).collect().await.map_err(|e| bad(format!("reading the request body: {e}")))?.to_bytes())
}

/// Record a checkpoint a worker sent, after everything it sent before.
pub(crate) fn record_checkpoint(workers: &Workers, run: RunId, bytes: &[u8]) -> Result<(), Refusal> {
    let checkpoint = benchtop_core::Checkpoint::decode(bytes).map_err(|e| bad(format!("run {run}'s checkpoint: {e}")))?;
    workers
        .send(run, vec![RunEvent::Checkpoint { run, checkpoint: Box::new(checkpoint) }])
        .map_err(|e| Refusal(StatusCode::CONFLICT, e.to_string()))
}

/// Write a file a worker sent into its run's own folder, under a checked plain name, and
/// record it after everything the worker sent before.
pub(crate) fn record_artifact(store: &Store, workers: &Workers, run: RunId, name: &str, bytes: &[u8]) -> Result<(), Refusal> {
    if !workers.is_open(run) {
        return Err(not_expected(run));
    }
    let name = artifact_name(name)?;
    let dir = store.artifacts_dir(run);
    let path = dir.join(&name);
    // Durable before the worker is answered, as its points are: staged, synced, renamed.
    let write = || -> std::io::Result<()> {
        use std::io::Write as _;
        std::fs::create_dir_all(&dir)?;
        let staged = dir.join(format!(".{name}.partial"));
        let mut file = std::fs::File::create(&staged)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&staged, &path)?;
        std::fs::File::open(&dir)?.sync_all()
    };
    write().map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("writing {}: {e}", path.display())))?;
    workers.send(run, vec![RunEvent::Artifact { run, name, path }]).map_err(|e| Refusal(StatusCode::CONFLICT, e.to_string()))
}

fn not_expected(run: RunId) -> Refusal {
    Refusal(StatusCode::CONFLICT, format!("this holder expects no worker for run {run} (not launched here, or already ended)"))
}

/// A worker may speak only of a run this holder expects a worker for.
fn expected(h: &Holder, run: RunId) -> Result<(), Refusal> {
    if h.workers.is_open(run) {
        Ok(())
    } else {
        Err(Refusal(StatusCode::CONFLICT, format!("this holder expects no worker for run {run} (not launched here, or already ended)")))
    }
}

/// A worker takes its run: the run's host becomes the worker's node, and the log says
/// whether it goes on from a checkpoint (as the pool's runs do).
fn claim_run(h: &Holder, claim: Claim) -> Result<Response<Body>, Refusal> {
    let events = h.workers.claim(claim.run).map_err(|e| Refusal(StatusCode::CONFLICT, e.to_string()))?;
    let host = claim.host.chars().filter(|c| !c.is_control()).take(255).collect::<String>();
    let record = h.store.update_run(claim.run, |r| r.provenance.host = host)?;
    let checkpoint = benchtop_runner::resume_point(&h.store, claim.run, &events).is_some();
    json(&Claimed { record, checkpoint })
}

/// An artifact's name as a worker gave it, if it is a plain file name: the holder writes it
/// only inside the run's own artifacts folder.
fn artifact_name(name: &str) -> Result<String, Refusal> {
    let plain = !name.is_empty()
        && name.len() <= 200
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.starts_with("checkpoint.bin");
    if plain { Ok(name.to_owned()) } else { Err(bad(format!("`{name}` is not a plain file name for an artifact"))) }
}

/// Store work runs off the async workers: sled's calls block.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, Refusal> + Send + 'static) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("the holder failed answering: {e}"))))
}

#[derive(Deserialize)]
struct Key {
    key: String,
}

#[derive(Deserialize)]
struct RunArg {
    run: RunId,
}

#[derive(Deserialize)]
struct SeriesArg {
    run: RunId,
    name: String,
}

#[derive(Deserialize)]
struct ArtifactArg {
    run: RunId,
    name: String,
}

/// Plan and queue a launch, start it, and answer with its lines as they happen.
async fn start_launch(h: Arc<Holder>, request: LaunchRequest) -> Result<Response<Body>, Refusal> {
    let Queued { ids, from_checkpoint, slurm } = {
        let h = h.clone();
        blocking(move || queue(&h, request)).await?
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<LaunchLine>();
    let _ = tx.send(LaunchLine::Queued { runs: ids.clone(), from_checkpoint, jobs: h.launcher.jobs() });
    if ids.is_empty() {
        let _ = tx.send(LaunchLine::Outcome(Outcome::default()));
    } else {
        let events = tx.clone();
        let observe = Box::new(move |event: &RunEvent| {
            if let RunEvent::Finished { run, status, error, .. } = event {
                // A client that went away does not stop the launch: the holder owns it now.
                let _ = events.send(LaunchLine::Finished { run: *run, status: *status, error: error.clone() });
            }
        });
        let outcome = match (slurm, &h.slurm) {
            (Some((name, options)), Some(launcher)) => launcher.start(&name, ids, options, observe),
            _ => h.launcher.start(ids, observe),
        };
        tokio::spawn(async move {
            let outcome = outcome.await.unwrap_or_else(|_| Outcome {
                store_errors: vec!["the holder's launch ended without saying how (see the runs' status)".into()],
                ..Outcome::default()
            });
            let _ = tx.send(LaunchLine::Outcome(outcome));
        });
    }
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        let line = rx.recv().await?;
        let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
        bytes.push(b'\n');
        Some((Ok::<_, Infallible>(Frame::data(Bytes::from(bytes))), rx))
    });
    let mut response = Response::new(StreamBody::new(lines).boxed());
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    Ok(response)
}

/// A launch stored as queued: its runs, how many go on from a checkpoint, and (name,
/// options) when it goes to Slurm.
struct Queued {
    ids: Vec<RunId>,
    from_checkpoint: usize,
    slurm: Option<(String, SlurmOptions)>,
}

/// Store a launch's runs as queued: plan every file first (so a bad one stores nothing).
fn queue(h: &Holder, request: LaunchRequest) -> Result<Queued, Refusal> {
    let runner = h.launcher.runner();
    match request {
        LaunchRequest::Experiments(files) => {
            let mut planned = Vec::with_capacity(files.len());
            let mut slurm: Option<(String, SlurmOptions)> = None;
            let mut local = false;
            for file in files {
                let mut exp = Experiment::parse(&file.source, &file.file).map_err(bad)?;
                for set in &file.sets {
                    exp.set(set).map_err(bad)?;
                }
                if let Some(executor) = file.executor {
                    exp.executor = executor;
                }
                let mut plans = exp.plan(&h.registry).map_err(bad)?;
                for plan in &mut plans {
                    refuse_paths(plan)?;
                    plan.experiment_file = Some(file.file.clone());
                }
                match exp.executor {
                    Executor::Local => local = true,
                    Executor::Slurm => {
                        if let Some(slurm) = &h.slurm {
                            slurm.can_report(exp.slurm.report).map_err(|e| bad(format!("{}: {e}", file.file)))?;
                        }
                        if h.slurm.is_none() {
                            return Err(bad(format!(
                                "{}: {} does not launch on Slurm (close it and run `benchtop serve`, or launch with the store free)",
                                file.file, h.name
                            )));
                        }
                        // One launch is one array: its tasks ask for one set of resources.
                        match &slurm {
                            Some((_, options)) if *options != exp.slurm => {
                                return Err(bad(format!(
                                    "{}: its [slurm] options differ from the launch's other files; one launch is one job array: launch it separately",
                                    file.file
                                )));
                            }
                            Some(_) => {}
                            None => slurm = Some((exp.name.clone(), exp.slurm.clone())),
                        }
                    }
                }
                planned.push((plans, file.git_commit));
            }
            if local && slurm.is_some() {
                return Err(bad("these files ask for both executors; launch the Slurm ones and the local ones separately"));
            }
            let mut ids = Vec::new();
            for (plans, commit) in planned {
                ids.extend(runner.enqueue_as(&plans, |_| commit.clone())?.iter().map(|r| r.id));
            }
            Ok(Queued { ids, from_checkpoint: 0, slurm })
        }
        LaunchRequest::Resume(runs) => {
            if let Some(busy) = runs.iter().find(|r| h.workers.knows(**r)) {
                return Err(Refusal(
                    StatusCode::CONFLICT,
                    format!(
                        "run {busy} is still ending on Slurm (its task is being stopped); resume it once it reads cancelled or interrupted"
                    ),
                ));
            }
            if let Some(why) = crate::slurm::still_on_slurm(&h.store, &runs) {
                return Err(Refusal(StatusCode::CONFLICT, why));
            }
            let ids = runner.requeue(&runs)?;
            // Only checkpoints the runner will go on from: readable, and of this version.
            let from_checkpoint =
                ids.iter().filter(|id| matches!(h.store.checkpoint(**id), Ok(Some(cp)) if cp.version == benchtop_core::VERSION)).count();
            Ok(Queued { ids, from_checkpoint, slurm: None })
        }
    }
}

/// The API never opens a path a request names: a parameter naming a file (`*_file`, such as
/// the light-field study's `pose_file`) is refused rather than read on the holder's side.
fn refuse_paths(plan: &RunPlan) -> Result<(), Refusal> {
    for (key, value) in &plan.params {
        if key.ends_with("_file") && value.as_str().is_some_and(|s| !s.is_empty()) {
            return Err(bad(format!(
                "`{key}` names a file, and the store's holder never opens a path a request names: run this experiment with the store free (close the app or `benchtop serve` first)"
            )));
        }
    }
    Ok(())
}
