//! Large queued operations go to files; the queue keeps stubs.

use super::*;

fn big(id: i32, version: i64) -> Operation {
    Operation {
        kind: OpKind::Insert,
        key: vec![SqlValue::I32(id)],
        row: Some(vec![
            SqlValue::I32(id),
            SqlValue::String(format!("{id}").repeat(200_000)),
        ]),
        version,
        changed: None,
    }
}

fn spill_files(dir: &std::path::Path) -> usize {
    let Ok(d) = std::fs::read_dir(dir.join("spill")) else {
        return 0;
    };
    d.flatten()
        .map(|q| std::fs::read_dir(q.path()).map_or(0, |f| f.count()))
        .sum()
}

#[test]
fn large_ops_are_kept_in_files_and_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let ops = vec![
        op(OpKind::Insert, 1, 1),
        big(2, 1),
        big(3, 1),
        op(OpKind::Update, 4, 1),
    ];
    s.enqueue_batch(D, T, &ops, Side::A, 1).unwrap();
    assert_eq!(spill_files(dir.path()), 2);
    // sled holds stubs only.
    let stored: usize = s
        .trees
        .queue
        .tree
        .iter()
        .map(|kv| kv.map(|(_, v)| v.len()).unwrap_or(0))
        .sum();
    assert!(stored < 4096, "{stored} bytes in sled");
    // The applier's list carries the images; inspect's shows stubs.
    let listed = s.list_queue(D, T, 0, 10).unwrap();
    assert_eq!(
        listed.iter().map(|(_, o)| o.clone()).collect::<Vec<_>>(),
        ops
    );
    let all = s.list_queue_all(D, T, 0, 10).unwrap();
    assert!(crate::store::spill::is_stub(&all[1].1) && all[1].1.key == ops[1].key);
    // A batch bounded in bytes stops before a large op, and takes one
    // alone when it comes first.
    assert_eq!(seqs(&s.list_batch(D, T, 0, 10, 1024).unwrap()), vec![1]);
    assert_eq!(seqs(&s.list_batch(D, T, 2, 10, 1024).unwrap()), vec![2]);
    // Survives a reopen.
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.list_queue(D, T, 0, 10).unwrap()[2].1, ops[2]);
    // Parking keeps the image (in `parked`).
    s.record_failure(D, T, 3, &fail(547), 1).unwrap();
    let parked = s.parked(Some(T), 10).unwrap();
    assert_eq!(parked[0].op, ops[2]);
    // A durable completion removes its files; the parked op's goes with a
    // later one.
    s.complete_batch(D, T, 2, &[], &[], None).unwrap();
    assert_eq!(spill_files(dir.path()), 1);
    s.complete_batch(D, T, 4, &[], &[], None).unwrap();
    assert_eq!(spill_files(dir.path()), 0);
    assert_eq!(s.status(D, T).unwrap().queue_depth, 0);
    // A reset removes what is left.
    s.enqueue_batch(D, T, &[big(5, 2)], Side::A, 2).unwrap();
    assert_eq!(spill_files(dir.path()), 1);
    s.set_phase(D, T, &Phase::Reinit { reason: "t".into() })
        .unwrap();
    s.reset_queue(D, T, &Phase::Init).unwrap();
    assert_eq!(spill_files(dir.path()), 0);
}

#[test]
fn a_missing_spill_file_is_a_corrupt_store_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.enqueue_batch(D, T, &[big(2, 1)], Side::A, 1).unwrap();
    for q in std::fs::read_dir(dir.path().join("spill"))
        .unwrap()
        .flatten()
    {
        for f in std::fs::read_dir(q.path()).unwrap().flatten() {
            std::fs::write(f.path(), b"xx").unwrap();
        }
    }
    match s.list_queue(D, T, 0, 10) {
        Err(StoreError::Corrupt { tree: "spill", .. }) => {}
        other => panic!("{other:?}"),
    }
}
