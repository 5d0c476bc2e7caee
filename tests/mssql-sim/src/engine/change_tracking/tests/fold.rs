//! CHANGETABLE folding, masks, VERSION and context.

use super::*;

// changetable-transact-sql.md: "if an insert operation was made at version 10
// and an update operation at version 15, and if the baseline last_sync_version
// is 12, an update will be reported. If the last_sync_version value is 8, an
// insert will be reported."
#[test]
fn insert_then_update_is_insert_before_and_update_after() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1)); // v1
    txn(&conn, |c| upd(c, 1, &[2])); // v2
    let before = changes(&conn, Some(0));
    assert_eq!(
        before,
        vec![Change {
            version: Some(2),
            creation: Some(1),
            op: "I".into(),
            columns: None,
            context: None,
            key: 1
        }]
    );
    let after = changes(&conn, Some(1));
    assert_eq!(
        after,
        vec![Change {
            version: Some(2),
            creation: Some(1),
            op: "U".into(),
            columns: Some(encode_mask(&[2])),
            context: None,
            key: 1
        }]
    );
    assert!(changes(&conn, Some(2)).is_empty());
    // Both in one transaction: still an insert, one row.
    txn(&conn, |c| {
        ins(c, 5);
        upd(c, 5, &[3]);
    });
    let c5: Vec<Change> = changes(&conn, Some(2));
    assert_eq!(c5.len(), 1);
    assert_eq!((c5[0].op.as_str(), c5[0].version), ("I", Some(3)));
}

// Folding rule: the last change after last_sync_version is a delete → D.
#[test]
fn insert_then_delete_is_reported_as_delete() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1)); // v1
    txn(&conn, |c| del(c, 1)); // v2
    let all = changes(&conn, Some(0));
    assert_eq!(all.len(), 1);
    assert_eq!(
        (
            all[0].op.as_str(),
            all[0].version,
            all[0].creation,
            &all[0].columns
        ),
        ("D", Some(2), Some(1), &None)
    );
    assert_eq!(ops(&conn, Some(1)), vec![(1, "D".to_string())]);
    // In one transaction as well.
    txn(&conn, |c| {
        ins(c, 2);
        del(c, 2);
    });
    assert_eq!(ops(&conn, Some(2)), vec![(2, "D".to_string())]);
}

// changetable-transact-sql.md: "If you delete a row and then insert a row that
// has the old primary key, the change is seen as an update to all columns".
#[test]
fn delete_then_reinsert_is_update_of_all_columns() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1)); // v1
    txn(&conn, |c| del(c, 1)); // v2
    txn(&conn, |c| ins(c, 1)); // v3
    let after_insert = changes(&conn, Some(1));
    assert_eq!(
        after_insert,
        vec![Change {
            version: Some(3),
            creation: Some(3),
            op: "U".into(),
            columns: None,
            context: None,
            key: 1
        }]
    );
    // Only the re-insert after the baseline: an insert.
    assert_eq!(ops(&conn, Some(2)), vec![(1, "I".to_string())]);
    // From before the first insert: an insert.
    assert_eq!(ops(&conn, Some(0)), vec![(1, "I".to_string())]);
    // Same transaction: delete then insert after a partial update → all columns.
    txn(&conn, |c| upd(c, 1, &[2])); // v4
    txn(&conn, |c| {
        del(c, 1);
        ins(c, 1);
    }); // v5
    let u = changes(&conn, Some(3));
    assert_eq!((u[0].op.as_str(), &u[0].columns), ("U", &None));
}

// changetable-transact-sql.md: "If a primary key value changes, it is
// considered to be a delete of the old value and an insert of the new value."
// The engine reports such an UPDATE as Delete(old) + Insert(new).
#[test]
fn update_of_a_key_value_is_delete_plus_insert() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1)); // v1
    txn(&conn, |c| {
        del(c, 1);
        ins(c, 10);
    }); // v2
    let got = changes(&conn, Some(1));
    assert_eq!(
        got.iter()
            .map(|c| (c.key, c.op.as_str(), c.version))
            .collect::<Vec<_>>(),
        vec![(1, "D", Some(2)), (10, "I", Some(2))]
    );
}

// changetable-transact-sql.md, SYS_CHANGE_COLUMNS: union of the columns
// updated since the baseline; NULL for I and D, without column tracking, and
// when all non-key columns were updated in one operation.
#[test]
fn change_columns_union_and_null_cases() {
    let conn = setup();
    let keys = keys_int();
    enable_table(&conn, &table(PLAIN, "dbo.Plain", &keys), false).unwrap();
    txn(&conn, |c| {
        ins(c, 1);
        ins(c, 2);
        record(c, PLAIN, &key(1), Op::Insert, &Columns::All, None).unwrap();
    }); // v1
    txn(&conn, |c| {
        upd(c, 1, &[3]);
        upd(c, 2, &[2]);
        record(c, PLAIN, &key(1), Op::Update, &Columns::Some(vec![2]), None).unwrap();
    }); // v2
    txn(&conn, |c| {
        upd(c, 1, &[2, 3]);
        rec(c, 2, Op::Update, Columns::All);
    }); // v3
    let got = changes(&conn, Some(1));
    assert_eq!(got[0].columns, Some(encode_mask(&[2, 3])));
    assert_eq!(got[1].columns, None, "an all-columns update → NULL");
    // Relative to the baseline: only v3's columns after 2.
    let got = changes(&conn, Some(2));
    assert_eq!(got[0].columns, Some(encode_mask(&[2, 3])));
    txn(&conn, |c| upd(c, 1, &[4])); // v4
    assert_eq!(changes(&conn, Some(3))[0].columns, Some(encode_mask(&[4])));
    assert_eq!(
        changes(&conn, Some(1))[0].columns,
        Some(encode_mask(&[2, 3, 4]))
    );
    // Column tracking off: NULL even for a partial update.
    let plain = changes_of(&conn, PLAIN, Some(1));
    assert_eq!((plain[0].op.as_str(), &plain[0].columns), ("U", &None));
    // Insert and delete: NULL.
    assert!(changes(&conn, Some(0)).iter().all(|c| c.columns.is_none()));
}

// docs/relational-databases/system-functions/change-tracking-is-column-in-mask-transact-sql.md
#[test]
fn column_in_mask_reads_the_mask_changetable_produces() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1));
    txn(&conn, |c| upd(c, 1, &[300, 2]));
    let mask = changes(&conn, Some(1))[0].columns.clone().expect("a mask");
    // The observed SQL Server layout: zero group, then 4-byte LE ids.
    assert_eq!(
        mask,
        vec![0, 0, 0, 0, 2, 0, 0, 0, 0x2c, 0x01, 0, 0],
        "ids 2 and 300"
    );
    assert_eq!(column_in_mask(2, Some(&mask)), Some(true));
    assert_eq!(column_in_mask(300, Some(&mask)), Some(true));
    assert_eq!(column_in_mask(3, Some(&mask)), Some(false));
    assert_eq!(column_in_mask(44, Some(&mask)), Some(false));
    // NULL mask: every column may have changed.
    assert_eq!(column_in_mask(3, None), Some(true));
    // Not a mask CHANGETABLE produces: 22101 / NULL.
    assert_eq!(column_in_mask(3, Some(&[1, 2, 3])), None);
    assert_eq!(
        column_in_mask_checked(3, Some(&[1, 2, 3]))
            .unwrap_err()
            .number,
        22101
    );
}

// changetable-transact-sql.md, CHANGETABLE(VERSION ...).
#[test]
fn version_of_one_key_with_context() {
    let conn = setup();
    let keys = keys_int();
    let t = table(T, "dbo.T", &keys);
    txn(&conn, |c| ins(c, 1)); // v1
    txn(&conn, |c| {
        record(c, T, &key(1), Op::Update, &Columns::All, Some(b"ctx")).unwrap();
    }); // v2
    let read = |k: i64| -> (Option<i64>, Option<Vec<u8>>, i64) {
        let ver = materialize_version(&conn, &t, &key(k), "ver").unwrap();
        conn.query_row(
            &format!("SELECT SYS_CHANGE_VERSION, SYS_CHANGE_CONTEXT, \"Id\" FROM temp.\"{ver}\""),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    assert_eq!(read(1), (Some(2), Some(b"ctx".to_vec()), 1));
    // The same columns, the same (reused) table.
    let ver = materialize_version(&conn, &t, &key(1), "ver").unwrap();
    let count = || -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM temp.\"{ver}\""), [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!(count(), 1);
    // A row changed before tracking began (no change kept): NULL version.
    conn.execute("INSERT INTO \"dbo.T\"(\"Id\") VALUES (7)", [])
        .unwrap();
    assert_eq!(read(7), (None, None, 7));
    // "An empty result set is returned if a nonexistent primary key is
    // specified", deleted rows included.
    materialize_version(&conn, &t, &key(8), "ver").unwrap();
    assert_eq!(count(), 0);
    txn(&conn, |c| del(c, 7));
    materialize_version(&conn, &t, &key(7), "ver").unwrap();
    assert_eq!(count(), 0);
    // After cleanup the change information is gone: NULL version.
    cleanup(&conn).unwrap();
    assert_eq!(read(1), (None, None, 1));
    // Wrong number of key values: 22110.
    let e = materialize_version(&conn, &t, &[], "ver").unwrap_err();
    assert_eq!(e.number, 22110);
}

// docs/relational-databases/system-functions/with-change-tracking-context-transact-sql.md
#[test]
fn context_is_the_last_changes_and_limited_to_128_bytes() {
    let conn = setup();
    txn(&conn, |c| {
        record(c, T, &key(1), Op::Insert, &Columns::All, Some(b"first")).unwrap();
    });
    txn(&conn, |c| {
        record(
            c,
            T,
            &key(1),
            Op::Update,
            &Columns::Some(vec![2]),
            Some(b"second"),
        )
        .unwrap();
    });
    // The last change's context, whatever the baseline.
    let c = &changes(&conn, Some(0))[0];
    assert_eq!(
        (c.op.as_str(), &c.context),
        ("I", &Some(b"second".to_vec()))
    );
    assert_eq!(changes(&conn, Some(1))[0].context, Some(b"second".to_vec()));
    txn(&conn, |c| upd(c, 1, &[2])); // a change without context
    assert_eq!(changes(&conn, Some(0))[0].context, None);
    let long = vec![7u8; 129];
    assert_eq!(check_context(&long).unwrap_err().number, 22109);
    assert!(check_context(&long[..128]).is_ok());
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let e = record(&conn, T, &key(2), Op::Insert, &Columns::All, Some(&long)).unwrap_err();
    assert_eq!(e.number, 22109);
    conn.execute_batch("ROLLBACK").unwrap();
}

// @v NULL: "If the value is NULL, all tracked changes are returned."
#[test]
fn null_since_returns_all_kept_changes() {
    let conn = setup();
    txn(&conn, |c| ins(c, 1));
    txn(&conn, |c| ins(c, 2));
    txn(&conn, |c| upd(c, 1, &[2]));
    let all = changes(&conn, None);
    assert_eq!(
        all.iter()
            .map(|c| (c.key, c.op.as_str(), c.version))
            .collect::<Vec<_>>(),
        vec![(1, "I", Some(3)), (2, "I", Some(2))]
    );
}
