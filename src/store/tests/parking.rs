//! Parking: failure counting, dead-lettering a key's ops, retry and drop.

use super::*;

#[test]
fn parking_keeps_a_keys_order_and_lets_other_keys_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    // seq 1: key 1, seq 2: key 2, seq 3: key 1, seq 4: key 3
    let batch = [
        op(OpKind::Insert, 1, 1),
        op(OpKind::Insert, 2, 1),
        op(OpKind::Update, 1, 2),
        op(OpKind::Insert, 3, 2),
    ];
    s.enqueue_batch(D, T, &batch, Side::A, 2).unwrap();
    assert_eq!(s.record_failure(D, T, 1, &fail(2627), 3).unwrap(), None);
    assert_eq!(s.record_failure(D, T, 1, &fail(2627), 3).unwrap(), None);
    assert_eq!(
        s.status(D, T).unwrap().last_error.as_deref(),
        Some("error 2627")
    );
    assert_eq!(s.record_failure(D, T, 1, &fail(2627), 3).unwrap(), Some(2));
    // Key 1's ops are out of the queue; keys 2 and 3 go on.
    let q = s.list_queue(D, T, 0, 10).unwrap();
    assert_eq!(seqs(&q), vec![2, 4]);
    let st = s.status(D, T).unwrap();
    assert_eq!((st.queue_depth, st.parked, st.parked_keys), (2, 2, 1));

    let parked = s.parked(Some(T), 100).unwrap();
    assert_eq!(parked.len(), 2);
    let head = &parked[0];
    assert_eq!(
        (head.seq, head.attempts, head.error_number),
        (1, 3, Some(2627))
    );
    assert_eq!(head.behind, None);
    assert!(head.first_failure_ms <= head.last_failure_ms);
    assert_eq!(parked[1].seq, 3);
    assert_eq!(parked[1].behind, Some(head.id));

    // A later change of key 1 is parked on arrival; key 4 is not.
    s.enqueue_batch(
        D,
        T,
        &[op(OpKind::Update, 1, 3), op(OpKind::Insert, 4, 3)],
        Side::A,
        3,
    )
    .unwrap();
    assert_eq!(seqs(&s.list_queue(D, T, 0, 10).unwrap()), vec![2, 4, 6]);
    assert_eq!(s.status(D, T).unwrap().parked, 3);

    // Apply the other keys, then retry key 1: back at the head, in order.
    s.complete_batch(D, T, 6, &[], &[], None).unwrap();
    assert!(s.list_queue(D, T, 0, 10).unwrap().is_empty());
    assert_eq!(s.retry_parked(None, ParkedSelect::Id(head.id)).unwrap(), 3);
    let q = s.list_queue(D, T, 0, 10).unwrap();
    assert_eq!(seqs(&q), vec![1, 3, 5]);
    assert_eq!(q[1].1.kind, OpKind::Update);
    let st = s.status(D, T).unwrap();
    assert_eq!((st.queue_depth, st.parked, st.parked_keys), (3, 0, 0));
    // Attempts start over after a retry.
    assert_eq!(s.record_failure(D, T, 1, &fail(547), 2).unwrap(), None);

    // A new key 1 op is queued normally again.
    s.enqueue_batch(D, T, &[op(OpKind::Delete, 1, 4)], Side::A, 4)
        .unwrap();
    assert_eq!(seqs(&s.list_queue(D, T, 0, 10).unwrap()), vec![1, 3, 5, 7]);
}

#[test]
fn dropping_parked_ops() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let batch = [
        op(OpKind::Insert, 1, 1),
        op(OpKind::Update, 1, 1),
        op(OpKind::Insert, 2, 1),
    ];
    s.enqueue_batch(D, T, &batch, Side::A, 1).unwrap();
    assert_eq!(s.record_failure(D, T, 1, &fail(515), 1).unwrap(), Some(2));
    let parked = s.parked(None, 100).unwrap();
    // Drop only the failing insert: the update stays parked, the key too.
    assert_eq!(
        s.drop_parked(None, ParkedSelect::Id(parked[0].id)).unwrap(),
        1
    );
    let st = s.status(D, T).unwrap();
    assert_eq!((st.parked, st.parked_keys), (1, 1));
    s.enqueue_batch(D, T, &[op(OpKind::Delete, 1, 2)], Side::A, 2)
        .unwrap();
    assert_eq!(s.status(D, T).unwrap().parked, 2);
    assert!(matches!(
        s.drop_parked(None, ParkedSelect::Id(999)).unwrap_err(),
        StoreError::ParkedNotFound { id: 999 }
    ));
    assert_eq!(
        s.drop_parked(Some("dbo.Other"), ParkedSelect::All).unwrap(),
        0
    );
    assert_eq!(s.drop_parked(Some(T), ParkedSelect::All).unwrap(), 2);
    let st = s.status(D, T).unwrap();
    assert_eq!((st.queue_depth, st.parked, st.parked_keys), (1, 0, 0));
    s.enqueue_batch(D, T, &[op(OpKind::Insert, 1, 3)], Side::A, 3)
        .unwrap();
    assert_eq!(ids(&s.list_queue(D, T, 0, 10).unwrap()), vec![2, 1]);
}

#[test]
fn park_is_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.enqueue_batch(
        D,
        T,
        &[op(OpKind::Insert, 1, 1), op(OpKind::Update, 1, 1)],
        Side::A,
        1,
    )
    .unwrap();
    s.arm_fault(Some("fail_after_park"));
    assert!(s.record_failure(D, T, 1, &fail(1), 1).is_err());
    s.arm_fault(None);
    assert_eq!(seqs(&s.list_queue(D, T, 0, 10).unwrap()), vec![1, 2]);
    assert!(s.parked(None, 10).unwrap().is_empty());
    let st = s.status(D, T).unwrap();
    assert_eq!((st.queue_depth, st.parked, st.parked_keys), (2, 0, 0));
}

#[test]
fn several_ops_of_a_parked_key_in_one_batch_are_all_parked() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.enqueue_batch(D, T, &[op(OpKind::Insert, 1, 1)], Side::A, 1)
        .unwrap();
    assert_eq!(s.record_failure(D, T, 1, &fail(2601), 1).unwrap(), Some(1));
    let batch = [
        op(OpKind::Update, 1, 2),
        op(OpKind::Insert, 2, 2),
        op(OpKind::Update, 1, 2),
    ];
    s.enqueue_batch(D, T, &batch, Side::A, 2).unwrap();
    assert_eq!(seqs(&s.list_queue(D, T, 0, 10).unwrap()), vec![3]);
    let parked = s.parked(Some(T), 10).unwrap();
    assert_eq!(
        parked.iter().map(|p| p.seq).collect::<Vec<_>>(),
        vec![1, 2, 4]
    );
    assert!(parked[1..].iter().all(|p| p.behind == Some(parked[0].id)));
    // Dropping two of three leaves the key parked; the third unparks it.
    s.drop_parked(None, ParkedSelect::Id(parked[0].id)).unwrap();
    s.drop_parked(None, ParkedSelect::Id(parked[1].id)).unwrap();
    s.enqueue_batch(D, T, &[op(OpKind::Delete, 1, 3)], Side::A, 3)
        .unwrap();
    assert_eq!(s.status(D, T).unwrap().parked, 2);
    assert_eq!(
        s.retry_parked(None, ParkedSelect::Id(parked[2].id))
            .unwrap(),
        2
    );
    assert_eq!(seqs(&s.list_queue(D, T, 0, 10).unwrap()), vec![3, 4, 5]);
    let st = s.status(D, T).unwrap();
    assert_eq!((st.queue_depth, st.parked, st.parked_keys), (3, 0, 0));
}
