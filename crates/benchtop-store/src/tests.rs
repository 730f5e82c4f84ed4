use super::*;
use benchtop_core::experiment::RunPlan;
use benchtop_core::{Backend, Provenance};

fn record(experiment: &str, seed: u64) -> RunRecord {
    let plan = RunPlan {
        experiment: experiment.into(),
        description: String::new(),
        study: "isr".into(),
        method: Some("erm".into()),
        seed,
        backend: Backend::Cpu,
        params: serde_json::Map::from_iter([("n_envs".to_owned(), serde_json::Value::from(3))]),
        sweep_point: Default::default(),
        experiment_file: None,
    };
    plan.to_record(Provenance::default())
}

#[test]
fn a_run_record_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut r = record("e", 1);
    r.summary.insert("test_error".into(), 0.25);
    store.create_runs(std::slice::from_ref(&r)).unwrap();
    assert_eq!(store.run(r.id).unwrap(), r);
    let found = store.find_run(&r.id.to_string()[..13]).unwrap();
    assert_eq!(found.id, r.id);
}

/// JSON has no NaN: a study's non-finite summary value must not make the record unreadable
/// (it once did, and with it every listing of the store).
#[test]
fn a_non_finite_summary_value_is_left_out_and_the_record_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let r = record("e", 1);
    store.create_runs(std::slice::from_ref(&r)).unwrap();
    store
        .update_run(r.id, |r| {
            r.summary.insert("accuracy".into(), 0.5);
            r.summary.insert("nothing_kept".into(), f64::NAN);
            r.summary.insert("overflow".into(), f64::INFINITY);
        })
        .unwrap();
    let back = store.run(r.id).unwrap();
    assert_eq!(back.summary.into_iter().collect::<Vec<_>>(), vec![("accuracy".to_owned(), 0.5)]);
    assert_eq!(store.runs(&Default::default()).unwrap().len(), 1);
}

#[test]
fn a_series_reads_back_in_step_order_and_apart_from_similar_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let r = record("e", 0);
    store.create_runs(std::slice::from_ref(&r)).unwrap();
    let mut batch = WriteBatch::new();
    for step in [300u64, 2, 1000, 0, 256] {
        batch.metric(r.id, "loss", step, step as f64 * 0.5);
        batch.metric(r.id, "loss_val", step, -1.0);
    }
    batch.log(r.id, LogLevel::Info, "first".into());
    batch.log(r.id, LogLevel::Warn, "second".into());
    batch.artifact(r.id, Artifact { name: "grid.png".into(), path: "a/grid.png".into(), bytes: 10 });
    store.write(batch).unwrap();
    let loss = store.series(r.id, "loss").unwrap();
    assert_eq!(loss, vec![(0, 0.0), (2, 1.0), (256, 128.0), (300, 150.0), (1000, 500.0)]);
    assert_eq!(store.series_names(r.id).unwrap(), ["loss", "loss_val"]);
    let logs: Vec<_> = store.logs(r.id).unwrap().into_iter().map(|l| l.text).collect();
    assert_eq!(logs, ["first", "second"]);
    assert_eq!(store.artifacts(r.id).unwrap()[0].name, "grid.png");
}

#[test]
fn filters_select_by_experiment_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (a, b, c) = (record("a", 0), record("a", 1), record("b", 0));
    store.create_runs(&[a.clone(), b.clone(), c.clone()]).unwrap();
    store.update_run(b.id, |r| r.status = RunStatus::Done).unwrap();
    let by_exp = store.runs(&RunFilter { experiment: Some("a".into()), ..Default::default() }).unwrap();
    assert_eq!(by_exp.iter().map(|r| r.id).collect::<Vec<_>>(), [a.id, b.id]);
    let done = store.runs(&RunFilter { status: Some(RunStatus::Done), ..Default::default() }).unwrap();
    assert_eq!(done.len(), 1);
}

#[test]
fn deleting_a_run_removes_all_its_data_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (gone, kept) = (record("e", 0), record("e", 1));
    store.create_runs(&[gone.clone(), kept.clone()]).unwrap();
    let mut batch = WriteBatch::new();
    for r in [&gone, &kept] {
        batch.metric(r.id, "loss", 1, 1.0);
        batch.log(r.id, LogLevel::Info, "x".into());
        batch.artifact(r.id, Artifact { name: "f".into(), path: "f".into(), bytes: 1 });
    }
    store.write(batch).unwrap();
    let files = store.artifacts_dir(gone.id);
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("f"), b"x").unwrap();

    store.delete_run(gone.id).unwrap();
    assert!(matches!(store.run(gone.id), Err(StoreError::NoSuchRun(_))));
    assert!(store.series(gone.id, "loss").unwrap().is_empty());
    assert!(store.series_names(gone.id).unwrap().is_empty());
    assert!(store.logs(gone.id).unwrap().is_empty());
    assert!(store.artifacts(gone.id).unwrap().is_empty());
    assert!(!files.exists());
    assert_eq!(store.series(kept.id, "loss").unwrap(), vec![(1, 1.0)]);
    assert_eq!(store.logs(kept.id).unwrap().len(), 1);
    assert!(matches!(store.delete_run(gone.id), Err(StoreError::NoSuchRun(_))));
}

#[test]
fn runs_left_running_by_a_crash_read_back_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let (running, queued, done) = (record("e", 0), record("e", 1), record("e", 2));
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_runs(&[running.clone(), queued.clone(), done.clone()]).unwrap();
        store.update_run(running.id, |r| r.status = RunStatus::Running).unwrap();
        store.update_run(done.id, |r| r.status = RunStatus::Done).unwrap();
        store.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.run(running.id).unwrap().status, RunStatus::Interrupted);
    assert_eq!(store.run(queued.id).unwrap().status, RunStatus::Interrupted);
    assert_eq!(store.run(done.id).unwrap().status, RunStatus::Done);
}

#[test]
fn a_store_from_a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let r = record("e", 0);
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_runs(std::slice::from_ref(&r)).unwrap();
        store.force_schema_version(SCHEMA_VERSION + 1).unwrap();
    }
    let err = Store::open(dir.path()).err().expect("must refuse");
    assert!(matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1), "{err}");
    assert!(err.to_string().contains("upgrade Benchtop"), "{err}");
    // Nothing was rewritten: with the version put back, the run is still there.
    let db = sled::open(dir.path().join("db")).unwrap();
    db.open_tree("meta").unwrap().insert("schema_version", &SCHEMA_VERSION.to_be_bytes()).unwrap();
    db.flush().unwrap();
    drop(db);
    assert_eq!(Store::open(dir.path()).unwrap().run(r.id).unwrap().id, r.id);
}

#[test]
fn a_store_opened_twice_is_a_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).err().expect("second open must fail");
    assert!(matches!(err, StoreError::Locked(_)), "{err}");
    assert!(err.to_string().contains("in use by another Benchtop process"));
}

#[test]
fn an_unusable_store_path_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&file.join("store")).err().expect("must fail");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[test]
fn the_store_location_follows_flag_then_environment() {
    let explicit = Store::resolve_dir(Some(Path::new("/x/y"))).unwrap();
    assert_eq!(explicit, PathBuf::from("/x/y"));
}

#[test]
fn a_run_page_filters_sorts_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut records: Vec<RunRecord> = (0..10).map(|seed| record("demo", seed)).collect();
    for (i, r) in records.iter_mut().enumerate() {
        r.summary.insert("test_error".into(), (10 - i) as f64 / 10.0);
        if i % 2 == 0 {
            r.tags.push("keep".into());
        }
    }
    records[3].summary.clear();
    store.create_runs(&records).unwrap();

    let page = store
        .run_page(&RunQuery { text: "KEEP".into(), sort: "metric.test_error".into(), offset: 1, limit: 2, ..RunQuery::default() })
        .unwrap();
    assert_eq!(page.total, 5, "the even runs are tagged");
    let errors: Vec<f64> = page.rows.iter().map(|r| r.summary["test_error"]).collect();
    assert_eq!(errors, [0.4, 0.6], "ascending, second and third of 0.2, 0.4, 0.6, 0.8, 1.0");

    let desc = store.run_page(&RunQuery { sort: "metric.test_error".into(), descending: true, ..RunQuery::default() }).unwrap();
    assert_eq!(desc.rows[0].summary["test_error"], 1.0);
    assert!(desc.rows.last().unwrap().summary.is_empty(), "a run without the metric sorts last either way");

    let by_seed = store.run_page(&RunQuery { columns: vec![("seed".into(), "7".into())], ..RunQuery::default() }).unwrap();
    assert_eq!(by_seed.rows.iter().map(|r| r.seed).collect::<Vec<_>>(), [7]);
    let done = store.run_page(&RunQuery { status: Some(RunStatus::Done), text: "keep".into(), ..RunQuery::default() }).unwrap();
    assert_eq!(done.total, 0, "none is done");
    assert_eq!(done.by_status.get(&RunStatus::Queued), Some(&5), "counts ignore the status filter, keep the others");
    let past_end = store.run_page(&RunQuery { offset: 50, limit: 10, ..RunQuery::default() }).unwrap();
    assert_eq!((past_end.total, past_end.rows.len()), (10, 0));
}

#[test]
fn the_search_text_is_a_query_and_its_mistakes_carry_a_column() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut records: Vec<RunRecord> = (0..6).map(|seed| record("demo", seed)).collect();
    for (i, r) in records.iter_mut().enumerate() {
        r.summary.insert("test_error".into(), i as f64 / 10.0);
    }
    store.create_runs(&records).unwrap();
    let seeds = |q: &str| -> Vec<u64> {
        store.run_page(&RunQuery { text: q.into(), ..RunQuery::default() }).unwrap().rows.iter().map(|r| r.seed).collect()
    };
    assert_eq!(seeds("test_error < 0.25"), [0, 1, 2]);
    assert_eq!(seeds("seed IN (1, 4) OR test_error >= 0.5"), [1, 4, 5]);
    assert_eq!(seeds("NOT seed BETWEEN 1 AND 4"), [0, 5]);
    assert_eq!(seeds("demo"), [0, 1, 2, 3, 4, 5], "a bare word still searches everywhere");
    let err = store.run_page(&RunQuery { text: "seed >".into(), ..RunQuery::default() }).unwrap_err().to_string();
    assert!(err.starts_with("query: column 7: "), "{err}");
    let err = store.run_page(&RunQuery { text: "tset_error < 1".into(), ..RunQuery::default() }).unwrap_err().to_string();
    assert!(err.contains("column 1") && err.contains("`tset_error`"), "{err}");
}

#[test]
fn concurrent_updates_of_one_run_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path()).unwrap());
    let r = record("demo", 0);
    store.create_runs(std::slice::from_ref(&r)).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    store.update_run(r.id, |rec| rec.tags.push(format!("{t}-{i}"))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.run(r.id).unwrap().tags.len(), 200, "every read-change-write kept the others' changes");
}

#[test]
fn sorting_a_column_that_mixes_numbers_and_text_is_a_total_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let values = [serde_json::json!(10), serde_json::json!("5x"), serde_json::json!(9), serde_json::json!("a"), serde_json::json!(1.5)];
    let records: Vec<RunRecord> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut r = record("demo", i as u64);
            r.params.insert("width".into(), v.clone());
            r
        })
        .collect();
    store.create_runs(&records).unwrap();
    let page = store.run_page(&RunQuery { sort: "param.width".into(), ..RunQuery::default() }).unwrap();
    let shown: Vec<String> = page.rows.iter().map(|r| r.params["width"].to_string()).collect();
    assert_eq!(shown, ["1.5", "9", "10", "\"5x\"", "\"a\""], "numbers by value, then text");
}

#[test]
fn lifecycle_rules_cancel_only_queued_resume_only_unfinished_and_delete_only_ended_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let runs: Vec<RunRecord> = (0..6).map(|seed| record("e", seed)).collect();
    store.create_runs(&runs).unwrap();
    let ids: Vec<RunId> = runs.iter().map(|r| r.id).collect();
    let statuses =
        [RunStatus::Queued, RunStatus::Running, RunStatus::Done, RunStatus::Failed, RunStatus::Cancelled, RunStatus::Interrupted];
    for (id, status) in ids.iter().zip(statuses) {
        store
            .update_run(*id, |r| {
                r.status = status;
                r.error = Some("why".into());
                r.summary.insert("score".into(), 1.0);
            })
            .unwrap();
    }
    assert_eq!(store.cancel_queued(&ids).unwrap(), vec![ids[0]]);
    assert_eq!(store.run(ids[0]).unwrap().status, RunStatus::Cancelled);
    assert_eq!(store.run(ids[1]).unwrap().status, RunStatus::Running, "a running run is stopped by its runner");

    // Cancelled (the dequeued one too), failed and interrupted runs go back to the queue, clean.
    assert_eq!(store.requeue(&ids).unwrap(), vec![ids[0], ids[3], ids[4], ids[5]]);
    let again = store.run(ids[3]).unwrap();
    assert_eq!((again.status, again.error, again.summary.len()), (RunStatus::Queued, None, 0));
    assert_eq!(store.run(ids[2]).unwrap().status, RunStatus::Done, "a finished run is not resumed");

    let out = store.delete_runs(&ids).unwrap();
    assert_eq!(out.deleted, vec![ids[2]]);
    assert_eq!(out.busy, vec![ids[0], ids[1], ids[3], ids[4], ids[5]]);
    assert!(matches!(store.run(ids[2]), Err(StoreError::NoSuchRun(_))));
    assert!(store.run(ids[1]).is_ok(), "nothing of a busy run is lost");
}

#[test]
fn a_record_that_does_not_decode_is_skipped_and_named_and_can_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let good = [record("e", 1), record("e", 2)];
    store.create_runs(&good).unwrap();
    let bad = RunId::new();
    store.put_raw_record(bad, b"{\"id\": truncated").unwrap();
    drop(store);
    // Opening marks unfinished runs interrupted by listing them: a bad record must not stop it.
    let store = Store::open(dir.path()).unwrap();
    let listed = store.runs(&RunFilter::default()).unwrap();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![good[0].id, good[1].id], "the readable runs all list");
    assert!(listed.iter().all(|r| r.status == RunStatus::Interrupted), "and were marked as a crash leaves them");
    let unreadable = store.unreadable();
    assert_eq!(unreadable.len(), 1);
    assert_eq!(unreadable[0].id, bad.to_string());
    assert!(unreadable[0].error.contains("run record"), "{}", unreadable[0].error);
    let page = store.run_page(&RunQuery::default()).unwrap();
    assert_eq!((page.total, page.unreadable.len()), (2, 1), "the table says what it skipped");
    assert!(matches!(store.run(bad), Err(StoreError::Corrupt { .. })), "asking for it by id is still an error");
    assert_eq!(store.delete_runs(&[bad]).unwrap().deleted, vec![bad]);
    store.runs(&RunFilter::default()).unwrap();
    assert!(store.unreadable().is_empty());
    assert_eq!(store.runs(&RunFilter::default()).unwrap(), listed, "nothing else was touched");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever bytes a damaged record holds (random, or a valid record cut short),
        /// listing never fails: the readable runs list and each damaged one is named.
        #[test]
        fn listing_survives_any_damaged_records(damage in prop::collection::vec(
            prop_oneof![prop::collection::vec(any::<u8>(), 0..64), (0usize..400).prop_map(|cut| {
                let mut bytes = serde_json::to_vec(&record("e", 9)).unwrap();
                bytes.truncate(cut.min(bytes.len().saturating_sub(1)));
                bytes
            })],
            1..6,
        )) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let good = [record("e", 1), record("e", 2)];
            store.create_runs(&good).unwrap();
            let bad: Vec<RunId> = damage.iter().map(|bytes| {
                let id = RunId::new();
                store.put_raw_record(id, bytes).unwrap();
                id
            }).collect();
            let listed = store.runs(&RunFilter::default()).unwrap();
            prop_assert_eq!(listed.len(), good.len());
            let named: Vec<String> = store.unreadable().into_iter().map(|u| u.id).collect();
            for id in &bad {
                prop_assert!(named.contains(&id.to_string()), "{} not named", id);
            }
        }
    }
}

#[test]
fn series_live_in_blocks_and_a_step_written_again_keeps_its_last_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let r = record("e", 0);
    store.create_runs(std::slice::from_ref(&r)).unwrap();
    let write = |points: &[(u64, f64)]| {
        let mut batch = WriteBatch::new();
        for (step, value) in points {
            batch.metric(r.id, "loss", *step, *value);
        }
        store.write(batch).unwrap();
    };
    // Appended a little at a time, across several blocks, with a name sharing a prefix.
    for chunk in (0..2000u64).collect::<Vec<_>>().chunks(37) {
        write(&chunk.iter().map(|s| (*s, *s as f64)).collect::<Vec<_>>());
    }
    let mut other = WriteBatch::new();
    other.metric(r.id, "loss_val", 3, -1.0);
    store.write(other).unwrap();
    let series = store.series(r.id, "loss").unwrap();
    assert_eq!(series, (0..2000u64).map(|s| (s, s as f64)).collect::<Vec<_>>());
    assert!(store.blocks.len() > 2000 / blocks::BLOCK, "in blocks: {}", store.blocks.len());
    // A resumed run logs steps again (and one batch may hold a step twice: the last counts),
    // out of order, and fills a gap.
    write(&[(1500, -2.0), (10, -3.0), (10, -4.0), (2500, 7.0), (1999, -5.0)]);
    let series = store.series(r.id, "loss").unwrap();
    assert_eq!(series.len(), 2001);
    assert!(series.windows(2).all(|w| w[0].0 < w[1].0), "in step order, each step once");
    let at = |step: u64| series.iter().find(|p| p.0 == step).map(|p| p.1);
    assert_eq!((at(10), at(1500), at(1999), at(2500), at(11)), (Some(-4.0), Some(-2.0), Some(-5.0), Some(7.0), Some(11.0)));
    assert_eq!(store.series(r.id, "loss_val").unwrap(), [(3, -1.0)]);
    assert_eq!(store.series_names(r.id).unwrap(), ["loss", "loss_val"]);
    store.delete_run(r.id).unwrap();
    assert!(store.blocks.is_empty());
}

#[test]
fn a_schema_1_store_is_migrated_to_blocks_on_open_with_every_point() {
    let dir = tempfile::tempdir().unwrap();
    let r = record("e", 0);
    {
        let store = Store::open(dir.path()).unwrap();
        store.create_runs(std::slice::from_ref(&r)).unwrap();
        store.flush().unwrap();
    }
    {
        // What schema 1 wrote: a key per point.
        let db = sled::open(dir.path().join("db")).unwrap();
        let legacy = db.open_tree("metrics").unwrap();
        // "acc" fills exactly one block, and the series after it (keys sort by name length) starts afresh.
        for (name, n) in [("loss", 1300u64), ("acc", 512), ("lr", 3)] {
            let mut key = r.id.as_bytes().to_vec();
            key.extend_from_slice(&(name.len() as u16).to_be_bytes());
            key.extend_from_slice(name.as_bytes());
            for step in 0..n {
                let mut k = key.clone();
                k.extend_from_slice(&(step * 10).to_be_bytes());
                legacy.insert(k, &(step as f64 / 7.0).to_be_bytes()).unwrap();
            }
            db.open_tree("series").unwrap().insert([r.id.as_bytes().as_slice(), name.as_bytes()].concat(), &[]).unwrap();
        }
        db.open_tree("meta").unwrap().insert("schema_version", &1u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let loss = store.series(r.id, "loss").unwrap();
    assert_eq!(loss, (0..1300u64).map(|s| (s * 10, s as f64 / 7.0)).collect::<Vec<_>>(), "every point, exactly");
    assert_eq!(store.series(r.id, "acc").unwrap().len(), 512);
    assert_eq!(store.series(r.id, "lr").unwrap().len(), 3);
    assert!(!store.db.tree_names().iter().any(|n| n.as_ref() == b"metrics"), "schema 1's tree is gone");
    let meta = store.db.open_tree("meta").unwrap();
    assert_eq!(meta.get("schema_version").unwrap().unwrap().as_ref(), SCHEMA_VERSION.to_be_bytes());
}
