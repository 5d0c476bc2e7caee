//! The pending index, lost markers, settlement and the conflict log.

use super::*;
use crate::store::{ConflictRecord, Outcome, Settlement, SideImage};

const R: Direction = Direction::BToA;

fn key(id: i32) -> Vec<SqlValue> {
    vec![SqlValue::I32(id)]
}

fn record(id: i32, outcome: Outcome) -> ConflictRecord {
    let img = |change: &str| SideImage {
        key: Some(key(id)),
        change: change.into(),
        row: None,
        version: Some(1),
        changed: None,
    };
    ConflictRecord {
        id: 0,
        table: T.into(),
        kind: "update/update".into(),
        columns: vec!["id".into(), "name".into()],
        a: img("update"),
        b: img("update"),
        policy: "a_wins".into(),
        outcome,
        direction: D,
        detected_ms: 1,
    }
}

#[test]
fn pending_index_follows_enqueue_completion_parking_and_retry() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.enqueue_batch(
        D,
        T,
        &[
            op(OpKind::Insert, 1, 5),
            op(OpKind::Update, 2, 6),
            op(OpKind::Update, 1, 7),
        ],
        Side::A,
        7,
    )
    .unwrap();
    assert_eq!(s.pending_ops(D, T, &key(1)).unwrap(), vec![(1, 5), (3, 7)]);
    assert_eq!(s.pending_ops(D, T, &key(2)).unwrap(), vec![(2, 6)]);
    assert!(s.pending_ops(R, T, &key(1)).unwrap().is_empty());
    // Completion removes what it applied.
    s.complete_batch(D, T, 1, &[], &[], None).unwrap();
    assert_eq!(s.pending_ops(D, T, &key(1)).unwrap(), vec![(3, 7)]);
    // A parked op leaves the index, a retried one comes back.
    let parked = s.record_failure(D, T, 2, &fail(547), 1).unwrap();
    assert_eq!(parked, Some(1));
    assert!(s.pending_ops(D, T, &key(2)).unwrap().is_empty());
    s.retry_parked(Some(T), ParkedSelect::All).unwrap();
    assert_eq!(s.pending_ops(D, T, &key(2)).unwrap(), vec![(2, 6)]);
    // A reset (reinit) empties it.
    s.set_phase(
        D,
        T,
        &Phase::Reinit {
            reason: "test".into(),
        },
    )
    .unwrap();
    s.reset_queue(D, T, &Phase::Init).unwrap();
    assert!(s.pending_ops(D, T, &key(1)).unwrap().is_empty());
    assert!(s.pending_ops(D, T, &key(2)).unwrap().is_empty());
}

#[test]
fn a_store_without_the_index_gets_it_built_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        s.enqueue_batch(D, T, &[op(OpKind::Update, 4, 9)], Side::A, 9)
            .unwrap();
        // As an older version left it: queued ops, no index.
        s.trees.pending.tree.clear().unwrap();
        s.trees.meta.tree.remove(pending::INDEX_BUILT_KEY).unwrap();
        s.flush_durable().unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.pending_ops(D, T, &key(4)).unwrap(), vec![(1, 9)]);
}

#[test]
fn settlement_drops_the_losing_reverse_ops_and_marks_uncaptured_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.enqueue_batch(D, T, &[op(OpKind::Update, 1, 10)], Side::A, 10)
        .unwrap();
    // b's changes of row 1 (versions 3 and 4) and of row 2.
    s.enqueue_batch(
        R,
        T,
        &[
            op(OpKind::Update, 1, 3),
            op(OpKind::Update, 2, 3),
            op(OpKind::Update, 1, 4),
        ],
        Side::B,
        4,
    )
    .unwrap();
    let settlement = Settlement {
        drop_reverse: vec![(key(1), 5)],
        lost_reverse: vec![(key(1), 5, 0)],
        records: vec![record(1, Outcome::Won(Side::A))],
        ..Settlement::default()
    };
    let ids = s
        .complete_settled(D, T, 1, &[], &[], &settlement, 100, None)
        .unwrap();
    assert_eq!(ids, vec![1]);
    assert_eq!(s.queue_depth(D, T).unwrap(), 0);
    // Only row 2's op is left in b→a.
    let left = s.list_queue(R, T, 0, 10).unwrap();
    assert_eq!(ids_of(&left), vec![2]);
    assert_eq!(s.queue_depth(R, T).unwrap(), 1);
    // b's change of row 1 at version 5, captured late, is dropped on
    // arrival; a later one (version 6) is not, and the marker goes once the
    // watermark passed it and nothing of the row is queued.
    s.enqueue_batch(R, T, &[op(OpKind::Update, 1, 5)], Side::B, 5)
        .unwrap();
    assert!(s.pending_ops(R, T, &key(1)).unwrap().is_empty());
    assert!(s
        .lost_markers(&records::queue_prefix(R, T).unwrap())
        .unwrap()
        .is_empty());
    s.enqueue_batch(R, T, &[op(OpKind::Update, 1, 6)], Side::B, 6)
        .unwrap();
    assert_eq!(s.pending_ops(R, T, &key(1)).unwrap().len(), 1);
    // The record is kept and counted.
    let (list, dropped) = s.conflicts(None, 10).unwrap();
    assert_eq!((list.len(), dropped), (1, 0));
    assert_eq!(list[0].id, 1);
    assert_eq!(s.status(D, T).unwrap().conflicts, 1);
}

fn ids_of(v: &[(u64, Operation)]) -> Vec<i32> {
    super::ids(v)
}

#[test]
fn park_parks_both_sides_and_resolve_keeps_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.enqueue_batch(
        D,
        T,
        &[op(OpKind::Update, 1, 10), op(OpKind::Update, 1, 11)],
        Side::A,
        11,
    )
    .unwrap();
    s.enqueue_batch(R, T, &[op(OpKind::Update, 1, 3)], Side::B, 3)
        .unwrap();
    let settlement = Settlement {
        park_own: vec![(1, 0)],
        park_reverse: vec![(key(1), 0)],
        records: vec![record(1, Outcome::Parked)],
        ..Settlement::default()
    };
    let ids = s
        .complete_settled(D, T, 1, &[], &[], &settlement, 100, None)
        .unwrap();
    // Both of a's ops on the key and b's op are parked; nothing is queued.
    assert_eq!(s.queue_depth(D, T).unwrap(), 0);
    assert_eq!(s.queue_depth(R, T).unwrap(), 0);
    let parked = s.parked(Some(T), 10).unwrap();
    assert_eq!(parked.len(), 3);
    assert!(parked.iter().any(|p| p.conflict == Some(ids[0])));
    // A later capture of the key parks on arrival.
    s.enqueue_batch(R, T, &[op(OpKind::Update, 1, 4)], Side::B, 4)
        .unwrap();
    assert_eq!(s.queue_depth(R, T).unwrap(), 0);
    assert_eq!(s.status(D, T).unwrap().conflicts_open, 1);
    // Keep b: a's parked ops go, b's go back to its queue in order.
    s.resolve_conflict(ids[0], Side::B).unwrap();
    assert_eq!(s.queue_depth(D, T).unwrap(), 0);
    let back = s.list_queue(R, T, 0, 10).unwrap();
    assert_eq!(
        back.iter().map(|(_, o)| o.version).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert!(s.parked(Some(T), 10).unwrap().is_empty());
    assert_eq!(s.status(D, T).unwrap().conflicts_open, 0);
    assert!(matches!(
        s.conflict(ids[0]).unwrap().map(|c| c.outcome),
        Some(Outcome::Resolved { keep: Side::B, .. })
    ));
    // Keys are no longer parked: new ops queue normally.
    s.enqueue_batch(D, T, &[op(OpKind::Update, 1, 12)], Side::A, 12)
        .unwrap();
    assert_eq!(s.queue_depth(D, T).unwrap(), 1);
    assert!(s.resolve_conflict(ids[0], Side::A).is_err());
}

#[test]
fn the_conflict_log_is_bounded_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for i in 0..5 {
        s.enqueue_batch(
            D,
            T,
            &[op(OpKind::Update, i, 10 + i as i64)],
            Side::A,
            10 + i as i64,
        )
        .unwrap();
        let seq = s.list_queue(D, T, 0, 1).unwrap()[0].0;
        let settlement = Settlement {
            records: vec![record(i, Outcome::Won(Side::A))],
            ..Settlement::default()
        };
        s.complete_settled(D, T, seq, &[], &[], &settlement, 3, None)
            .unwrap();
    }
    let (list, dropped) = s.conflicts(None, 100).unwrap();
    assert_eq!(list.iter().map(|c| c.id).collect::<Vec<_>>(), vec![3, 4, 5]);
    assert_eq!(dropped, 2);
    // Counted per table even when dropped from the log.
    assert_eq!(s.status(D, T).unwrap().conflicts, 5);
    assert_eq!(s.purge_conflicts(u64::MAX).unwrap(), 3);
    assert!(s.conflicts(None, 100).unwrap().0.is_empty());
}
