//! Store tests on real sled databases in temporary directories.

use super::*;
use crate::model::{Direction, OpKind, Operation, Side, SqlValue};

mod conflicts;
mod inflight;
mod parking;
mod quiet;
mod spill;
mod staged;

pub(super) const D: Direction = Direction::AToB;
pub(super) const T: &str = "dbo.Users";

pub(super) fn op(kind: OpKind, id: i32, version: i64) -> Operation {
    Operation {
        kind,
        key: vec![SqlValue::I32(id)],
        row: match kind {
            OpKind::Delete => None,
            _ => Some(vec![SqlValue::I32(id), SqlValue::String(format!("u{id}"))]),
        },
        version,
        changed: None,
    }
}

pub(super) fn fail(n: u32) -> FailureInfo {
    FailureInfo {
        number: Some(n),
        message: format!("error {n}"),
    }
}

pub(super) fn seqs(v: &[(u64, Operation)]) -> Vec<u64> {
    v.iter().map(|(s, _)| *s).collect()
}

pub(super) fn ids(v: &[(u64, Operation)]) -> Vec<i32> {
    v.iter()
        .map(|(_, o)| match o.key[0] {
            SqlValue::I32(i) => i,
            _ => -1,
        })
        .collect()
}

#[test]
fn queue_order_and_watermark_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.watermark(Side::A, T).unwrap(), None);
        s.enqueue_batch(
            D,
            T,
            &[op(OpKind::Insert, 1, 5), op(OpKind::Insert, 2, 5)],
            Side::A,
            5,
        )
        .unwrap();
        s.enqueue_batch(D, T, &[], Side::A, 6).unwrap();
        s.enqueue_batch(D, T, &[op(OpKind::Update, 1, 7)], Side::A, 7)
            .unwrap();
        // Other direction and other table are separate queues.
        s.enqueue_batch(Direction::BToA, T, &[op(OpKind::Insert, 9, 1)], Side::B, 1)
            .unwrap();
        s.enqueue_batch(D, "dbo.UsersX", &[op(OpKind::Insert, 8, 1)], Side::A, 1)
            .unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    let q = s.list_queue(D, T, 0, 10).unwrap();
    assert_eq!(seqs(&q), vec![1, 2, 3]);
    assert_eq!(ids(&q), vec![1, 2, 1]);
    assert_eq!(q[2].1.kind, OpKind::Update);
    assert_eq!(s.watermark(Side::A, T).unwrap(), Some(7));
    assert_eq!(s.watermark(Side::B, T).unwrap(), Some(1));
    assert_eq!(s.list_queue(D, T, 0, 2).unwrap().len(), 2);
    assert_eq!(
        ids(&s.list_queue(Direction::BToA, T, 0, 10).unwrap()),
        vec![9]
    );
    assert_eq!(ids(&s.list_queue(D, "dbo.UsersX", 0, 10).unwrap()), vec![8]);
    let st = s.status(D, T).unwrap();
    assert_eq!(st.queue_depth, 3);
    assert_eq!(st.watermark, Some(7));
    assert!(st.last_capture_ms.is_some());
    // Seqs continue after a reopen, never reused.
    s.enqueue_batch(D, T, &[op(OpKind::Delete, 2, 8)], Side::A, 8)
        .unwrap();
    assert_eq!(seqs(&s.list_queue(D, T, 0, 10).unwrap()), vec![1, 2, 3, 4]);
    assert_eq!(
        s.known_queues().unwrap(),
        vec![
            (D, T.to_string()),
            (D, "dbo.UsersX".to_string()),
            (Direction::BToA, T.to_string())
        ]
    );
}

#[test]
fn watermark_never_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.enqueue_batch(D, T, &[], Side::A, 10).unwrap();
    let e = s
        .enqueue_batch(D, T, &[op(OpKind::Insert, 1, 9)], Side::A, 9)
        .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::WatermarkBackwards {
                current: 10,
                new: 9,
                ..
            }
        ),
        "{e}"
    );
    assert!(s.list_queue(D, T, 0, 10).unwrap().is_empty());
    assert_eq!(s.status(D, T).unwrap().queue_depth, 0);
}

#[test]
fn enqueue_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        s.enqueue_batch(D, T, &[op(OpKind::Insert, 1, 1)], Side::A, 1)
            .unwrap();
        s.arm_fault(Some("fail_after_enqueue"));
        let e = s
            .enqueue_batch(
                D,
                T,
                &[op(OpKind::Insert, 2, 2), op(OpKind::Insert, 3, 2)],
                Side::A,
                2,
            )
            .unwrap_err();
        assert!(matches!(e, StoreError::Injected("fail_after_enqueue")));
        assert_eq!(ids(&s.list_queue(D, T, 0, 10).unwrap()), vec![1]);
        assert_eq!(s.watermark(Side::A, T).unwrap(), Some(1));
        // Dropped without any further flush: a crash right after the failure.
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(ids(&s.list_queue(D, T, 0, 10).unwrap()), vec![1]);
    assert_eq!(s.watermark(Side::A, T).unwrap(), Some(1));
    assert_eq!(s.status(D, T).unwrap().queue_depth, 1);
    // The next enqueue takes the seq the failed one would have.
    s.enqueue_batch(D, T, &[op(OpKind::Insert, 2, 2)], Side::A, 2)
        .unwrap();
    assert_eq!(seqs(&s.list_queue(D, T, 0, 10).unwrap()), vec![1, 2]);
}

#[test]
fn complete_batch_removes_and_maps_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let ops: Vec<_> = (1..=4).map(|i| op(OpKind::Insert, i, 1)).collect();
    s.enqueue_batch(D, T, &ops, Side::A, 1).unwrap();
    s.mark_inflight(D, T, 1, 2, None, None).unwrap();
    assert_eq!(
        s.inflight(D, T).unwrap().map(|m| (m.from, m.through)),
        Some((1, 2))
    );
    let k = |i: i32| vec![SqlValue::I32(i)];
    let mapped = vec![(k(1), k(101)), (k(2), k(102))];

    s.arm_fault(Some("fail_after_remove"));
    let e = s.complete_batch(D, T, 2, &mapped, &[], None).unwrap_err();
    assert!(matches!(e, StoreError::Injected(_)));
    s.arm_fault(None);
    assert_eq!(seqs(&s.list_queue(D, T, 0, 10).unwrap()), vec![1, 2, 3, 4]);
    assert_eq!(s.map_key(T, Side::A, &k(1)).unwrap(), None);
    assert_eq!(
        s.inflight(D, T).unwrap().map(|m| (m.from, m.through)),
        Some((1, 2))
    );
    assert_eq!(s.mapped_count(T).unwrap(), 0);

    s.complete_batch(D, T, 2, &mapped, &[], None).unwrap();
    assert_eq!(seqs(&s.list_queue(D, T, 0, 10).unwrap()), vec![3, 4]);
    assert_eq!(s.inflight(D, T).unwrap(), None);
    assert_eq!(s.map_key(T, Side::A, &k(1)).unwrap(), Some(k(101)));
    assert_eq!(s.map_key(T, Side::B, &k(102)).unwrap(), Some(k(2)));
    assert_eq!(s.map_key(T, Side::B, &k(1)).unwrap(), None);
    assert_eq!(s.mapped_count(T).unwrap(), 2);
    let st = s.status(D, T).unwrap();
    assert_eq!((st.queue_depth, st.mapped_keys), (2, 2));
    assert!(st.last_apply_ms.is_some());

    // A delete drops the mapping both ways; b→a sees the same map.
    s.complete_batch(D, T, 3, &[], &[k(1)], None).unwrap();
    assert_eq!(s.map_key(T, Side::A, &k(1)).unwrap(), None);
    assert_eq!(s.map_key(T, Side::B, &k(101)).unwrap(), None);
    assert_eq!(s.mapped_count(T).unwrap(), 1);
    // Re-pairing a key replaces the old pair instead of adding one.
    s.complete_batch(D, T, 4, &[(k(2), k(202))], &[], None)
        .unwrap();
    assert_eq!(s.map_key(T, Side::A, &k(2)).unwrap(), Some(k(202)));
    assert_eq!(s.map_key(T, Side::B, &k(102)).unwrap(), None);
    assert_eq!(s.mapped_count(T).unwrap(), 1);
    assert_eq!(s.status(D, T).unwrap().queue_depth, 0);
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.map_key(T, Side::B, &k(202)).unwrap(), Some(k(2)));
    assert_eq!(s.mapped_count(T).unwrap(), 1);
}

#[test]
fn flipped_byte_is_reported_as_corrupt_with_tree_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    // Two batches: two chunks, keyed by their first seqs 1 and 2.
    s.enqueue_batch(D, T, &[op(OpKind::Insert, 1, 1)], Side::A, 1)
        .unwrap();
    s.enqueue_batch(D, T, &[op(OpKind::Insert, 2, 1)], Side::A, 1)
        .unwrap();
    let key = records::seq_key(&records::queue_prefix(D, T).unwrap(), 2);
    let mut v = s.trees.queue.tree.get(&key).unwrap().unwrap().to_vec();
    let mid = v.len() / 2;
    v[mid] ^= 0x01;
    s.trees.queue.tree.insert(&key, v).unwrap();
    let e = s.list_queue(D, T, 0, 10).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, StoreError::Corrupt { tree: "queue", .. }),
        "{text}"
    );
    assert!(
        text.contains("dbo.Users") && text.contains("checksum"),
        "{text}"
    );
    // The op before it is still readable.
    assert_eq!(ids(&s.list_queue(D, T, 0, 1).unwrap()), vec![1]);

    // A truncated state record.
    let qk = records::queue_prefix(D, T).unwrap();
    s.trees.queues.tree.insert(&qk, &[1u8, 2][..]).unwrap();
    assert!(matches!(
        s.status(D, T).unwrap_err(),
        StoreError::Corrupt { tree: "queues", .. }
    ));
    // And a watermark whose body no longer decodes (checksum recomputed).
    let wk = records::watermark_key(Side::A, T).unwrap();
    let body = [0xffu8; 3];
    let mut bad = crc32fast::hash(&body).to_be_bytes().to_vec();
    bad.extend_from_slice(&body);
    s.trees.watermarks.tree.insert(&wk, bad).unwrap();
    let e = s.watermark(Side::A, T).unwrap_err();
    assert!(e.to_string().contains("cannot decode"), "{e}");
}

#[test]
fn counters_match_entries_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let s = Store::open(dir.path()).unwrap();
        let ops: Vec<_> = (0..300).map(|i| op(OpKind::Insert, i % 50, 1)).collect();
        s.enqueue_batch(D, T, &ops, Side::A, 1).unwrap();
        s.complete_batch(
            D,
            T,
            40,
            &[(vec![SqlValue::I32(0)], vec![SqlValue::I32(7)])],
            &[],
            None,
        )
        .unwrap();
        s.record_failure(D, T, 41, &fail(1), 1).unwrap();
        s.mark_inflight(D, T, 42, 50, None, None).unwrap();
        s.status(D, T).unwrap()
    };
    let s = Store::open(dir.path()).unwrap();
    let after = s.status(D, T).unwrap();
    assert_eq!(before, after);
    let queued = s.list_queue(D, T, 0, usize::MAX).unwrap().len() as u64;
    let parked = s.parked(None, usize::MAX).unwrap().len() as u64;
    assert_eq!(after.queue_depth, queued);
    assert_eq!(after.parked, parked);
    assert_eq!(queued + parked, 260);
    assert_eq!(after.inflight, Some((42, 50)));
    assert_eq!(after.mapped_keys, 1);
}

#[test]
fn second_open_of_the_same_dir_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _s = Store::open(dir.path()).unwrap();
    let e = match Store::open(dir.path()) {
        Ok(_) => panic!("second open succeeded"),
        Err(e) => e,
    };
    let text = e.to_string();
    assert!(matches!(e, StoreError::Locked { .. }), "{text}");
    assert!(text.contains("another ctsync is running"), "{text}");
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
}

#[test]
fn unknown_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        s.trees
            .meta
            .tree
            .insert(FORMAT_KEY, &99u32.to_be_bytes())
            .unwrap();
        s.flush_durable().unwrap();
    }
    let e = match Store::open(dir.path()) {
        Ok(_) => panic!("opened a format-99 store"),
        Err(e) => e,
    };
    assert!(
        matches!(
            e,
            StoreError::Format {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn phases_load_progress_and_servers_persist() {
    let dir = tempfile::tempdir().unwrap();
    let k = |i: i32| vec![SqlValue::I32(i)];
    {
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.phase(D, T).unwrap(), Phase::Init);
        let p = Phase::InitialLoad(LoadProgress {
            start_version: Some(17),
            rows_done: 1000,
            rows_total: Some(5000),
            last_key: Some(k(1000)),
            reason: None,
            pending: None,
        });
        // A load's progress is written only while the table loads.
        assert!(matches!(
            s.save_load_chunk(D, T, &[], &p),
            Err(StoreError::LoadSuperseded { .. })
        ));
        s.begin_copy(D, T, &LoadProgress::default()).unwrap();
        s.save_load_chunk(D, T, &[(k(999), k(5)), (k(1000), k(6))], &p)
            .unwrap();
        s.set_phase(
            Direction::BToA,
            T,
            &Phase::Stopped {
                reason: "why".into(),
            },
        )
        .unwrap();
        s.set_server(
            Side::B,
            &ServerIdentity {
                identity: "guid-1".into(),
                last_current_version: 42,
                seen_ms: 1,
            },
        )
        .unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    match s.phase(D, T).unwrap() {
        Phase::InitialLoad(p) => {
            assert_eq!(p.rows_done, 1000);
            assert_eq!(p.last_key, Some(k(1000)));
            assert_eq!(p.start_version, Some(17));
        }
        other => panic!("phase {other:?}"),
    }
    assert_eq!(s.map_key(T, Side::B, &k(6)).unwrap(), Some(k(1000)));
    assert_eq!(s.mapped_count(T).unwrap(), 2);
    assert_eq!(
        s.phase(Direction::BToA, T).unwrap(),
        Phase::Stopped {
            reason: "why".into()
        }
    );
    assert_eq!(s.server(Side::A).unwrap(), None);
    assert_eq!(s.server(Side::B).unwrap().unwrap().last_current_version, 42);
    assert_eq!(s.status(D, T).unwrap().mapped_keys, 2);
}

#[test]
fn reset_queue_clears_a_table_for_reinit() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let ops: Vec<_> = (0..25).map(|i| op(OpKind::Insert, i, 1)).collect();
    s.enqueue_batch(D, T, &ops, Side::A, 9).unwrap();
    s.enqueue_batch(D, "dbo.Keep", &ops, Side::A, 9).unwrap();
    s.record_failure(D, T, 1, &fail(1), 1).unwrap();
    s.mark_inflight(D, T, 2, 3, None, None).unwrap();
    let reason = Phase::Reinit {
        reason: "expired".into(),
    };
    // Only a table in `Reinit` is reset.
    assert!(matches!(
        s.reset_queue(D, T, &Phase::Init),
        Err(StoreError::LoadSuperseded { .. })
    ));
    s.set_phase(D, T, &reason).unwrap();
    let then = Phase::InitialLoad(LoadProgress::default());
    assert_eq!(s.reset_queue(D, T, &then).unwrap(), 25);
    let st = s.status(D, T).unwrap();
    assert_eq!((st.queue_depth, st.parked, st.parked_keys), (0, 0, 0));
    assert_eq!(
        (st.watermark, st.inflight, st.phase),
        (None, None, then.clone())
    );
    // A capture poll read from the old watermark appends nothing; one from
    // the new start (set with the copy's progress) does.
    assert!(!s
        .enqueue_captured(D, T, &ops, Side::A, Some(9), 12, None)
        .unwrap());
    assert_eq!(s.status(D, T).unwrap().queue_depth, 0);
    let start = LoadProgress {
        start_version: Some(11),
        ..LoadProgress::default()
    };
    s.begin_copy(D, T, &start).unwrap();
    assert_eq!(s.watermark(Side::A, T).unwrap(), Some(11));
    assert!(!s
        .enqueue_captured(D, T, &ops, Side::A, None, 12, None)
        .unwrap());
    // A reload requested meanwhile is not overwritten by the load.
    s.set_phase(D, T, &reason).unwrap();
    assert!(matches!(
        s.save_load_progress(D, T, &start),
        Err(StoreError::LoadSuperseded { .. })
    ));
    assert!(matches!(
        s.finish_load(D, T),
        Err(StoreError::LoadSuperseded { .. })
    ));
    assert_eq!(s.phase(D, T).unwrap(), reason);
    s.reset_queue(D, T, &then).unwrap();
    assert!(s.list_queue(D, T, 0, 10).unwrap().is_empty());
    assert!(s.parked(Some(T), 10).unwrap().is_empty());
    assert_eq!(s.status(D, "dbo.Keep").unwrap().queue_depth, 25);
    s.enqueue_batch(D, T, &[op(OpKind::Insert, 1, 3)], Side::A, 3)
        .unwrap();
    assert_eq!(seqs(&s.list_queue(D, T, 0, 10).unwrap()), vec![26]);
}

#[test]
fn first_capture_starts_streaming_only_from_init() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert!(s.start_streaming(D, T, 5).unwrap());
    assert_eq!(
        (s.phase(D, T).unwrap(), s.watermark(Side::A, T).unwrap()),
        (Phase::Streaming, Some(5))
    );
    // Already started: nothing changes.
    assert!(!s.start_streaming(D, T, 9).unwrap());
    assert_eq!(s.watermark(Side::A, T).unwrap(), Some(5));
    // A table loading (a reload of an `initial: none` table) is not taken
    // for a first capture.
    s.set_phase(D, "dbo.L", &Phase::InitialLoad(LoadProgress::default()))
        .unwrap();
    assert!(!s.start_streaming(D, "dbo.L", 9).unwrap());
    assert_eq!(s.watermark(Side::A, "dbo.L").unwrap(), None);
}

#[test]
fn blobs_are_synced_too() {
    // A record past sled's blob threshold (here a parked 2 MB op: queued,
    // it is spilled by the store itself) is stored by sled in its own
    // file; flush_durable must still succeed and the op read back whole.
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let mut big = op(OpKind::Insert, 1, 1);
    big.row = Some(vec![
        SqlValue::I32(1),
        SqlValue::Binary(vec![7u8; 2 * 1024 * 1024]),
    ]);
    s.enqueue_batch(D, T, std::slice::from_ref(&big), Side::A, 1)
        .unwrap();
    s.record_failure(D, T, 1, &fail(547), 1).unwrap();
    let blobs = std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
    assert!(
        blobs > 0,
        "a 2 MB parked op is stored by sled as a blob file"
    );
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.parked(Some(T), 1).unwrap()[0].op, big);
}

#[test]
fn large_batches_span_chunks_and_complete_part_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let n = records::CHUNK_OPS as i32 * 3 + 7;
    let ops: Vec<_> = (0..n).map(|i| op(OpKind::Insert, i, 1)).collect();
    s.enqueue_batch(D, T, &ops, Side::A, 1).unwrap();
    assert!(s.trees.queue.tree.len() >= 4);
    let all = s.list_queue(D, T, 0, usize::MAX).unwrap();
    assert_eq!(seqs(&all), (1..=n as u64).collect::<Vec<_>>());
    // Complete through the middle of the second chunk.
    let through = records::CHUNK_OPS as u64 + 10;
    s.complete_batch(D, T, through, &[], &[], None).unwrap();
    let rest = s.list_queue(D, T, 0, 3).unwrap();
    assert_eq!(seqs(&rest), vec![through + 1, through + 2, through + 3]);
    assert_eq!(s.status(D, T).unwrap().queue_depth, n as u64 - through);
    // Paging from a seq inside a chunk.
    let mid = through + 20;
    let page = s.list_queue(D, T, mid, 2).unwrap();
    assert_eq!(seqs(&page), vec![mid, mid + 1]);
    assert_eq!(s.list_queue(D, T, 1, 1).unwrap()[0].0, through + 1);
    // Park an op in the middle of a chunk with another op of its key in a
    // later chunk, then retry: both go back into place.
    let key = (mid - 1) as i32; // op i has seq i + 1
    let mut more = vec![op(OpKind::Update, key, 2)];
    more.extend((1000..1010).map(|i| op(OpKind::Insert, i, 2)));
    s.enqueue_batch(D, T, &more, Side::A, 2).unwrap();
    let target = mid;
    assert_eq!(
        s.record_failure(D, T, target, &fail(1), 1).unwrap(),
        Some(2)
    );
    let q = s.list_queue(D, T, 0, usize::MAX).unwrap();
    assert!(!q.iter().any(|(_, o)| o.key == vec![SqlValue::I32(key)]));
    assert_eq!(q.len() as u64, s.status(D, T).unwrap().queue_depth);
    assert_eq!(s.retry_parked(Some(T), ParkedSelect::All).unwrap(), 2);
    let q2 = s.list_queue(D, T, 0, usize::MAX).unwrap();
    let mut expect: Vec<u64> = seqs(&q);
    expect.push(target);
    expect.push(n as u64 + 1);
    expect.sort();
    assert_eq!(seqs(&q2), expect);
    assert_eq!(q2.len() as u64, s.status(D, T).unwrap().queue_depth);
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(seqs(&s.list_queue(D, T, 0, usize::MAX).unwrap()), expect);
}

#[test]
fn concurrent_capture_and_apply_keep_order_and_counters() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(Store::open(dir.path()).unwrap());
    let producer = {
        let s = s.clone();
        std::thread::spawn(move || {
            for b in 0..100i64 {
                let ops: Vec<_> = (0..20)
                    .map(|i| op(OpKind::Insert, (b * 20 + i) as i32, b))
                    .collect();
                s.enqueue_batch(D, T, &ops, Side::A, b).unwrap();
            }
        })
    };
    let mut applied = Vec::new();
    let drain = |applied: &mut Vec<u64>| -> bool {
        let batch = s.list_queue(D, T, 0, 37).unwrap();
        let Some((through, _)) = batch.last() else {
            return false;
        };
        let k = |i: i32| vec![SqlValue::I32(i)];
        // Map every 10th key, as inserts into an identity table would.
        let mapped: Vec<_> = ids(&batch)
            .into_iter()
            .filter(|i| i % 10 == 0)
            .map(|i| (k(i), k(i + 100_000)))
            .collect();
        s.complete_batch(D, T, *through, &mapped, &[], None)
            .unwrap();
        applied.extend(seqs(&batch));
        true
    };
    while !producer.is_finished() {
        if !drain(&mut applied) {
            std::thread::yield_now();
        }
    }
    producer.join().unwrap();
    while drain(&mut applied) {}
    assert_eq!(applied, (1..=2000).collect::<Vec<u64>>());
    let st = s.status(D, T).unwrap();
    assert_eq!(
        (st.queue_depth, st.mapped_keys, st.watermark),
        (0, 200, Some(99))
    );
}

#[test]
fn repair_ops_append_after_the_queue_and_leave_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.enqueue_batch(D, T, &[op(OpKind::Insert, 1, 5)], Side::A, 5)
        .unwrap();
    s.enqueue_repair(D, T, &[op(OpKind::Update, 2, 9), op(OpKind::Delete, 3, 9)])
        .unwrap();
    let q = s.list_queue(D, T, 0, 10).unwrap();
    assert_eq!(ids(&q), vec![1, 2, 3]);
    assert_eq!(seqs(&q), vec![1, 2, 3]);
    assert_eq!(s.watermark(Side::A, T).unwrap(), Some(5));
    // Capture goes on from its watermark after a repair.
    assert!(s
        .enqueue_captured(D, T, &[op(OpKind::Update, 4, 6)], Side::A, Some(5), 6, None)
        .unwrap());
    assert_eq!(ids(&s.list_queue(D, T, 0, 10).unwrap()), vec![1, 2, 3, 4]);
    assert_eq!(s.watermark(Side::A, T).unwrap(), Some(6));
}
