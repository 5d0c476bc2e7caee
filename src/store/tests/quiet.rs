//! Watermarks of unchanged tables moved together (`Store::advance_quiet`).

use super::*;

fn mv(table: &str, from: Option<i64>, version: i64) -> QuietMove {
    QuietMove {
        table: table.into(),
        from,
        version,
    }
}

#[test]
fn unchanged_tables_move_together_and_a_reset_or_staged_table_stays() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for t in ["dbo.A", "dbo.B", "dbo.C", "dbo.D"] {
        s.enqueue_batch(D, t, &[], Side::A, 5).unwrap();
    }
    // dbo.C's watermark moved meanwhile (read from 5, now 7): left alone.
    s.enqueue_captured(D, "dbo.C", &[], Side::A, Some(5), 7, None)
        .unwrap();
    // dbo.D has a transaction being read in pieces: left alone.
    let piece = Piece {
        read_from: 5,
        through: 8,
        after_version: 8,
        after_key: vec![SqlValue::I32(1)],
        rows: 1,
    };
    s.enqueue_captured(
        D,
        "dbo.D",
        &[op(OpKind::Insert, 1, 8)],
        Side::A,
        Some(5),
        8,
        Some(&piece),
    )
    .unwrap();
    let moved = s
        .advance_quiet(
            D,
            Side::A,
            &[
                mv("dbo.A", Some(5), 9),
                mv("dbo.B", Some(5), 9),
                mv("dbo.C", Some(5), 9),
                mv("dbo.D", Some(5), 9),
            ],
        )
        .unwrap();
    assert_eq!(moved, vec!["dbo.A".to_string(), "dbo.B".to_string()]);
    drop(s);
    // Durable: after a reopen.
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.watermark(Side::A, "dbo.A").unwrap(), Some(9));
    assert_eq!(s.watermark(Side::A, "dbo.B").unwrap(), Some(9));
    assert_eq!(s.watermark(Side::A, "dbo.C").unwrap(), Some(7));
    assert_eq!(s.watermark(Side::A, "dbo.D").unwrap(), Some(5));
    assert!(s.staged(D, "dbo.D").unwrap().is_some());
    // Never backwards: nothing of the batch is written.
    assert!(matches!(
        s.advance_quiet(
            D,
            Side::A,
            &[mv("dbo.B", Some(9), 10), mv("dbo.A", Some(9), 3)]
        ),
        Err(StoreError::WatermarkBackwards { .. })
    ));
    assert_eq!(s.watermark(Side::A, "dbo.B").unwrap(), Some(9));
}
