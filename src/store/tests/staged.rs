//! A source transaction read in pieces: staged ops stay out of the
//! applier's sight until the last piece moves the watermark.

use super::*;

fn piece(after: i32, rows: u64) -> Piece {
    Piece {
        read_from: 5,
        through: 9,
        after_version: 9,
        after_key: vec![SqlValue::I32(after)],
        rows,
    }
}

#[test]
fn pieces_are_hidden_until_the_last_one_moves_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.enqueue_batch(D, T, &[op(OpKind::Insert, 1, 5)], Side::A, 5)
        .unwrap();
    let first: Vec<Operation> = (10..20).map(|i| op(OpKind::Update, i, 9)).collect();
    assert!(s
        .enqueue_captured(D, T, &first, Side::A, Some(5), 9, Some(&piece(19, 10)))
        .unwrap());
    // The applier sees what was queued before the transaction, not its
    // first piece; the watermark has not moved; inspect shows both.
    assert_eq!(ids(&s.list_queue(D, T, 0, 100).unwrap()), vec![1]);
    assert_eq!(s.list_queue_all(D, T, 0, 100).unwrap().len(), 11);
    assert_eq!(s.watermark(Side::A, T).unwrap(), Some(5));
    let st = s.staged(D, T).unwrap().unwrap();
    assert_eq!((st.first_seq, st.ops, st.rows, st.through), (2, 10, 10, 9));
    assert_eq!(s.status(D, T).unwrap().queue_depth, 11);
    // A piece of another read is refused, nothing written.
    let other = Piece {
        through: 8,
        ..piece(25, 1)
    };
    assert!(matches!(
        s.enqueue_captured(D, T, &first, Side::A, Some(5), 8, Some(&other)),
        Err(StoreError::StagedMismatch { .. })
    ));
    // The next piece survives a reopen (a crash between pieces).
    let second: Vec<Operation> = (20..25).map(|i| op(OpKind::Update, i, 9)).collect();
    s.enqueue_captured(D, T, &second, Side::A, Some(5), 9, Some(&piece(24, 6)))
        .unwrap();
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    let st = s.staged(D, T).unwrap().unwrap();
    assert_eq!(
        (st.ops, st.rows, st.after_key.clone()),
        (15, 16, vec![SqlValue::I32(24)])
    );
    assert_eq!(s.list_queue(D, T, 0, 100).unwrap().len(), 1);
    // The last piece: everything visible, in order, with the watermark.
    let last = vec![op(OpKind::Delete, 25, 9)];
    s.enqueue_captured(D, T, &last, Side::A, Some(5), 9, None)
        .unwrap();
    let all = s.list_queue(D, T, 0, 100).unwrap();
    assert_eq!(ids(&all), [1].into_iter().chain(10..26).collect::<Vec<_>>());
    assert_eq!(seqs(&all), (1..=17).collect::<Vec<u64>>());
    assert_eq!(s.watermark(Side::A, T).unwrap(), Some(9));
    assert!(s.staged(D, T).unwrap().is_none());
}

#[test]
fn a_reset_drops_the_staged_read_with_its_ops() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.enqueue_batch(D, T, &[], Side::A, 5).unwrap();
    let first: Vec<Operation> = (10..20).map(|i| op(OpKind::Update, i, 9)).collect();
    s.enqueue_captured(D, T, &first, Side::A, Some(5), 9, Some(&piece(19, 10)))
        .unwrap();
    s.set_phase(
        D,
        T,
        &Phase::Reinit {
            reason: "test".into(),
        },
    )
    .unwrap();
    assert_eq!(s.reset_queue(D, T, &Phase::Init).unwrap(), 10);
    assert!(s.staged(D, T).unwrap().is_none());
    assert_eq!(s.list_queue_all(D, T, 0, 100).unwrap().len(), 0);
    // A piece read across the reset is not queued.
    assert!(!s
        .enqueue_captured(D, T, &first, Side::A, Some(5), 9, Some(&piece(19, 10)))
        .unwrap());
    assert!(s.staged(D, T).unwrap().is_none());
}
