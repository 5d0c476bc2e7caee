//! In-flight marks and the target floor: what the applier needs to resolve
//! a write whose outcome is unknown survives a reopen, a completion clears
//! only the marks it covers, and queue states written by earlier versions
//! still load.

use super::*;
use crate::model::{Direction, OpKind, Side, SqlValue};

const D: Direction = Direction::AToB;
const T: &str = "dbo.Users";

fn op(i: i32) -> crate::model::Operation {
    super::op(OpKind::Insert, i, 1)
}

#[test]
fn mark_with_floor_and_settlement_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let settlement = Settlement {
        drop_reverse: vec![(vec![SqlValue::I32(3)], 17)],
        ..Settlement::default()
    };
    {
        let s = Store::open(dir.path()).unwrap();
        s.enqueue_batch(D, T, &[op(1), op(2), op(3)], Side::A, 1)
            .unwrap();
        assert_eq!(s.target_floor(D, T).unwrap(), None);
        s.set_target_floor(D, T, 40).unwrap();
        s.mark_inflight(D, T, 1, 2, Some(41), Some(&settlement))
            .unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    let m = s.inflight(D, T).unwrap().expect("the mark survives");
    assert_eq!((m.from, m.through, m.since), (1, 2, Some(41)));
    assert_eq!(m.settlement, Some(settlement));
    assert_eq!(s.target_floor(D, T).unwrap(), Some(40));

    // The completion clears the mark and saves the floor read after it.
    s.complete_batch(D, T, 2, &[], &[], Some(55)).unwrap();
    assert_eq!(s.inflight(D, T).unwrap(), None);
    assert_eq!(s.target_floor(D, T).unwrap(), Some(55));
    // A completion without a version keeps the floor it had.
    s.complete_batch(D, T, 3, &[], &[], None).unwrap();
    assert_eq!(s.target_floor(D, T).unwrap(), Some(55));
}

#[test]
fn a_completion_leaves_the_mark_of_a_later_batch() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.enqueue_batch(D, T, &[op(1), op(2), op(3), op(4)], Side::A, 1)
        .unwrap();
    // Batch 3..=4 was marked while the completion of 1..=2 still ran.
    s.mark_inflight(D, T, 3, 4, Some(9), None).unwrap();
    s.complete_batch(D, T, 2, &[], &[], Some(10)).unwrap();
    let m = s.inflight(D, T).unwrap().expect("the later mark stays");
    assert_eq!((m.from, m.through), (3, 4));
    s.complete_batch(D, T, 4, &[], &[], Some(12)).unwrap();
    assert_eq!(s.inflight(D, T).unwrap(), None);
}

#[test]
fn a_version_1_queue_state_loads_as_the_current_one() {
    let v1 = records::QueueState::V1(records::QueueStateV1 {
        next_seq: 8,
        depth: 3,
        parked: 1,
        parked_keys: 1,
        inflight: Some((5, 7)),
        last_capture_ms: Some(1),
        last_apply_ms: None,
        last_error: Some("e".into()),
    });
    let bytes = records::encode("queues", &v1).unwrap();
    let back: records::QueueState = records::decode("queues", b"q", &bytes).unwrap();
    let s = back.current();
    assert_eq!(
        (s.next_seq, s.depth, s.parked, s.inflight),
        (8, 3, 1, Some((5, 7)))
    );
    assert_eq!((s.inflight_since, s.target_floor), (None, None));
    assert!(s.inflight_settlement.is_none());
    assert_eq!(s.last_error.as_deref(), Some("e"));
}
