use std::sync::Arc;
use std::time::Duration;

use benchtop_core::{Params, Registry, RunContext, RunStatus, Study, StudyError, Summary};
use benchtop_store::{RunFilter, RunSource, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
struct ToyParams {
    /// Points to log (one every 2 ms).
    steps: u64,
    /// Log until cancelled.
    spin: bool,
    /// A file to read (never read here: the holder must refuse it first).
    pose_file: String,
}
impl Params for ToyParams {}

struct Toy;

impl Study for Toy {
    type Params = ToyParams;
    fn name(&self) -> &'static str {
        "toy"
    }
    fn title(&self) -> &'static str {
        "Toy"
    }
    fn description(&self) -> &'static str {
        "For the API's tests."
    }
    fn run(&self, ctx: &RunContext, p: &ToyParams) -> Result<Summary, StudyError> {
        let mut step = 0;
        while p.spin || step < p.steps {
            if ctx.is_cancelled() {
                return Err(StudyError::Cancelled);
            }
            // Exact values a JSON float would not carry: NaN and a value with every bit used.
            let value = if step == 3 { f64::NAN } else { 1.0 / 3.0 + step as f64 };
            ctx.log_metric("loss", step, value);
            std::thread::sleep(Duration::from_millis(2));
            step += 1;
        }
        ctx.info("finished");
        Ok(Summary::from([("score".to_owned(), ctx.seed() as f64 + 0.1)]))
    }
}

/// A store held and served by a pool in a runtime of its own, and its folder.
struct Served {
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    serving: Option<Serving>,
    holder: Arc<Holder>,
}

fn served() -> Served {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(dir.path()).expect("open"));
    let holder = Arc::new(Holder::pool(store, Registry::new().with(Toy), 2));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let serving = {
        let _inside = runtime.enter();
        serve_unix(holder.clone()).expect("serve")
    };
    Served { dir, runtime, serving: Some(serving), holder }
}

const TOY: &str = "name = \"toy-exp\"\nstudy = \"toy\"\nseeds = 3\n[params]\nsteps = 6\n";

fn toy_launch(source: &str) -> LaunchRequest {
    LaunchRequest::Experiments(vec![ExperimentSource {
        file: "toy.toml".into(),
        source: source.into(),
        sets: vec![],
        git_commit: Some("abc123".into()),
        executor: None,
    }])
}

#[test]
fn points_round_trip_exactly() {
    let points = vec![(0, 1.0 / 3.0), (7, f64::NAN), (u64::MAX, f64::NEG_INFINITY), (9, -0.0)];
    let back = decode_points(&encode_points(&points)).expect("decodes");
    assert_eq!(back.len(), points.len());
    for ((s, v), (s2, v2)) in points.iter().zip(&back) {
        assert_eq!(s, s2);
        assert_eq!(v.to_bits(), v2.to_bits());
    }
    assert!(decode_points(&[0u8; 17]).is_none());
}

#[test]
fn the_socket_is_the_owners_only_and_goes_with_the_holder() {
    use std::os::unix::fs::PermissionsExt;
    let mut s = served();
    let socket = socket_path(s.dir.path());
    let mode = std::fs::metadata(&socket).expect("socket").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");
    drop(s.serving.take());
    assert!(!socket.exists(), "the socket is removed when serving stops");
    assert!(Remote::find(s.dir.path()).expect("no error").is_none());
}

#[test]
fn a_second_process_reads_launches_and_deletes_through_the_holder() {
    let s = served();
    let remote = Remote::find(s.dir.path()).expect("answers").expect("a holder");
    assert_eq!(remote.hello().version, benchtop_core::VERSION);
    assert_eq!(remote.hello().jobs, 2);
    assert!(remote.list_runs(&RunFilter::default()).expect("list").is_empty());

    let mut lines = Vec::new();
    let outcome = remote.launch(&toy_launch(TOY), |line| lines.push(line.clone()), std::future::pending()).expect("launch");
    assert_eq!((outcome.done, outcome.failed, outcome.cancelled), (3, 0, 0));
    let LaunchLine::Queued { runs, from_checkpoint: 0, jobs: 2 } = &lines[0] else { panic!("first line: {:?}", lines[0]) };
    assert_eq!(runs.len(), 3);
    assert_eq!(lines.iter().filter(|l| matches!(l, LaunchLine::Finished { status: RunStatus::Done, .. })).count(), 3);

    // What the remote reads is what the holder's store holds, bit for bit.
    let store = &s.holder.store;
    let remote_runs = remote.list_runs(&RunFilter { experiment: Some("toy-exp".into()), ..RunFilter::default() }).expect("list");
    let local_runs = store.runs(&RunFilter::default()).expect("list");
    assert_eq!(remote_runs, local_runs);
    let run = &remote_runs[0];
    assert_eq!(run.provenance.git_commit.as_deref(), Some("abc123"), "the client's commit is recorded");
    assert_eq!(run.experiment_file.as_deref(), Some("toy.toml"));
    assert_eq!(remote.find(&run.id.to_string()).expect("find"), *run);
    assert_eq!(remote.series_of(run.id).expect("names"), store.series_names(run.id).expect("names"));
    let (here, there) = (store.series(run.id, "loss").expect("local"), remote.points(run.id, "loss").expect("remote"));
    assert_eq!(here.len(), 6);
    assert!(here.iter().zip(&there).all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits()), "{here:?} vs {there:?}");
    assert_eq!(remote.log_lines(run.id).expect("logs"), store.logs(run.id).expect("logs"));
    assert_eq!(remote.artifact_list(run.id).expect("artifacts"), store.artifacts(run.id).expect("artifacts"));

    // Errors read as the store's own.
    let missing = benchtop_core::RunId::new();
    let local = store.find_run(&missing.to_string()).expect_err("none").to_string();
    assert_eq!(remote.find(&missing.to_string()).expect_err("none").to_string(), local);

    let deleted = remote.delete(&[run.id]).expect("delete");
    assert_eq!(deleted.deleted, vec![run.id]);
    assert_eq!(store.runs(&RunFilter::default()).expect("list").len(), 2);
}

#[test]
fn interrupting_a_remote_launch_cancels_its_runs_and_keeps_what_they_logged() {
    let s = served();
    let remote = Remote::find(s.dir.path()).expect("answers").expect("a holder");
    let source = "name = \"spin\"\nstudy = \"toy\"\nseeds = 3\n[params]\nspin = true\n";
    let interrupt = async { tokio::time::sleep(Duration::from_millis(300)).await };
    let outcome = remote.launch(&toy_launch(source), |_| {}, interrupt).expect("launch");
    // Two were training (and stop at their next check), the third still queued.
    assert_eq!((outcome.done, outcome.cancelled), (0, 3), "{outcome:?}");
    let runs = s.holder.store.runs(&RunFilter::default()).expect("list");
    assert!(runs.iter().all(|r| r.status == RunStatus::Cancelled));
    let logged: usize = runs.iter().map(|r| s.holder.store.series(r.id, "loss").expect("series").len()).sum();
    assert!(logged > 0, "points logged before the cancel are kept");

    // And they resume through the holder.
    let ids: Vec<_> = runs.iter().map(|r| r.id).collect();
    let mut queued = Vec::new();
    let interrupt = async { tokio::time::sleep(Duration::from_millis(100)).await };
    let outcome = remote.launch(&LaunchRequest::Resume(ids.clone()), |l| queued.push(l.clone()), interrupt).expect("resume");
    assert!(matches!(&queued[0], LaunchLine::Queued { runs, .. } if runs.len() == 3));
    assert_eq!(outcome.cancelled, 3);
}

#[test]
fn bad_requests_get_one_line_and_store_nothing() {
    let s = served();
    let remote = Remote::find(s.dir.path()).expect("answers").expect("a holder");
    // A broken file: the holder's planner names the file, line and column, as locally.
    let err = remote.launch(&toy_launch("name = \"x\"\nstudy = \"toy\"\nseeds = -1\n"), |_| {}, std::future::pending()).expect_err("bad");
    let text = err.to_string();
    assert!(text.starts_with("toy.toml:3:"), "{text}");
    assert!(!text.contains('\n'));
    // A path in a request is never opened.
    let with_path = format!("{TOY}pose_file = \"/etc/passwd\"\n");
    let err = remote.launch(&toy_launch(&with_path), |_| {}, std::future::pending()).expect_err("refused").to_string();
    assert!(err.contains("`pose_file` names a file"), "{err}");
    assert!(s.holder.store.runs(&RunFilter::default()).expect("list").is_empty(), "nothing stored");

    // Malformed bodies and unknown routes, straight at the socket.
    let endpoint = client_endpoint(&s);
    let raw = |method: &str, path: &str, body: &str| raw_request(&endpoint, method, path, body);
    let (status, text) = raw("POST", "/v1/launch", "{\"experiments\": 7}");
    assert_eq!(status, 400);
    assert!(text.contains("malformed request body"), "{text}");
    let (status, text) = raw("GET", "/v1/points?run=not-an-id&name=loss", "");
    assert_eq!(status, 400);
    assert!(text.contains("malformed request arguments"), "{text}");
    let (status, _) = raw("GET", "/v1/nowhere", "");
    assert_eq!(status, 404);
    let (status, _) = raw("DELETE", "/v1/runs", "");
    assert_eq!(status, 405);
}

#[test]
fn tcp_needs_the_token() {
    let s = served();
    let token = new_token().expect("token");
    assert_eq!(token.len(), 64);
    let tcp = |tokens: Vec<String>| {
        s.runtime.block_on(async {
            let listener = bind_tcp("127.0.0.1:0".parse().expect("addr")).await.expect("bind");
            serve_tcp(s.holder.clone(), listener, tokens)
        })
    };
    // A holder that took back a launch on Slurm also takes the token its workers were given.
    let launchs = new_token().expect("token");
    let serving = tcp(vec![token.clone(), launchs.clone()]).expect("tcp");
    let remote = Remote::tcp(&serving.at, &token).expect("with the token");
    assert!(remote.list_runs(&RunFilter::default()).expect("list").is_empty());
    assert!(Remote::tcp(&serving.at, &launchs).is_ok(), "with the launch's token");
    let wrong = Remote::tcp(&serving.at, &"0".repeat(64)).err().expect("refused").to_string();
    assert!(wrong.contains("refused the token"), "{wrong}");
    let (status, text) = raw_request(&Target::Tcp(serving.at.clone()), "GET", "/v1/runs", "");
    assert_eq!(status, 401);
    assert!(text.contains(TOKEN_ENV), "{text}");
    assert!(tcp(vec!["short".into()]).is_err());
    assert!(tcp(Vec::new()).is_err());
}

enum Target {
    Unix(std::path::PathBuf),
    Tcp(String),
}

fn client_endpoint(s: &Served) -> Target {
    Target::Unix(socket_path(s.dir.path()))
}

/// One HTTP/1.0 request by hand; its status and body.
fn raw_request(target: &Target, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let request = format!("{method} {path} HTTP/1.0\r\nHost: benchtop\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let mut answer = String::new();
    match target {
        Target::Unix(path) => {
            let mut stream = std::os::unix::net::UnixStream::connect(path).expect("connect");
            stream.write_all(request.as_bytes()).expect("write");
            stream.read_to_string(&mut answer).expect("read");
        }
        Target::Tcp(addr) => {
            let mut stream = std::net::TcpStream::connect(addr).expect("connect");
            stream.write_all(request.as_bytes()).expect("write");
            stream.read_to_string(&mut answer).expect("read");
        }
    }
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn a_workers_run_is_recorded_in_order_exactly_and_only_where_expected() {
    use crate::workers::{Claim, WorkerBatch, WorkerEvent};
    let s = served();
    let store = s.holder.store.clone();
    let exp = benchtop_core::Experiment::parse(TOY, "toy.toml").expect("parses");
    let plans = exp.plan(&s.holder.registry).expect("plans");
    let id = s.holder.launcher.runner().enqueue(&plans[..1]).expect("queued")[0].id;
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || benchtop_runner::write_events(&store, rx, |_| {}, benchtop_runner::Cancel::new()))
    };
    s.holder.workers.expect(id, tx);
    let token = new_token().expect("token");
    let serving = s
        .runtime
        .block_on(async {
            let listener = bind_tcp("127.0.0.1:0".parse().expect("addr")).await.expect("bind");
            serve_tcp(s.holder.clone(), listener, vec![token.clone()])
        })
        .expect("tcp");
    let remote = Remote::tcp(&serving.at, &token).expect("worker connects");

    let stranger = benchtop_core::RunId::new();
    assert!(remote.claim(&Claim { run: stranger, host: "n".into() }).is_err(), "only expected runs are claimed");
    let claimed = remote.claim(&Claim { run: id, host: "node7\n".into() }).expect("claim");
    assert_eq!(claimed.record.id, id);
    assert!(!claimed.checkpoint);
    assert_eq!(store.run(id).expect("run").provenance.host, "node7", "the node is the run's host, control characters dropped");

    let metric = |step, value: f64| WorkerEvent::Metric { name: "loss".into(), step, bits: value.to_bits() };
    let batch = |events| WorkerBatch { run: id, events };
    remote.send_events(&batch(vec![WorkerEvent::Started { compute: None }, metric(0, f64::NAN), metric(1, 1.0 / 3.0)])).expect("events");
    let checkpoint = benchtop_core::Checkpoint::new("half way").with_value("done", &2u64).expect("value");
    remote.send_checkpoint(id, checkpoint.encode()).expect("checkpoint");
    // Answered means stored: a worker resends only what was not answered when its holder dies.
    assert_eq!(store.checkpoint(id).expect("read").expect("saved").stage, "half way");
    assert_eq!(store.series(id, "loss").expect("series").len(), 2, "the points before it were stored first");
    assert!(remote.send_checkpoint(id, b"not a checkpoint".to_vec()).is_err());
    remote.send_artifact(id, "figure.png", vec![1, 2, 3]).expect("artifact");
    for bad in ["../escape.png", "a/b.png", "", "checkpoint.bin"] {
        assert!(remote.send_artifact(id, bad, vec![0]).is_err(), "`{bad}` is refused");
    }
    let summary = [("score".to_owned(), 0.25f64.to_bits()), ("diverged".to_owned(), f64::NAN.to_bits())].into();
    remote.send_events(&batch(vec![metric(2, 2.0), WorkerEvent::Finished { status: RunStatus::Done, summary, error: None }])).expect("end");
    assert!(remote.send_events(&batch(vec![metric(3, 3.0)])).is_err(), "nothing after the run's end");

    s.holder.workers.forget(id);
    let outcome = writer.join().expect("writer");
    assert_eq!(outcome.done, 1);
    let run = store.run(id).expect("run");
    assert_eq!(run.status, RunStatus::Done);
    assert_eq!(run.summary["score"], 0.25);
    let points = store.series(id, "loss").expect("series");
    assert_eq!(points.len(), 3);
    assert!(points[0].1.is_nan() && points[1].1.to_bits() == (1.0f64 / 3.0).to_bits());
    let artifacts = store.artifacts(id).expect("artifacts");
    assert_eq!(artifacts.len(), 1);
    assert_eq!(std::fs::read(&artifacts[0].path).expect("file"), vec![1, 2, 3]);
    assert!(artifacts[0].path.starts_with(store.artifacts_dir(id)));
}
