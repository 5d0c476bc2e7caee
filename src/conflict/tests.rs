use super::*;
use crate::config::{ConflictFallback, ConflictPolicy};
use crate::model::{OpKind, Side, SqlValue};

fn cols() -> Vec<String> {
    ["id", "balance", "note", "updated_at"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn row(balance: i32, note: &str, at: i64) -> Vec<SqlValue> {
    vec![
        SqlValue::I32(1),
        SqlValue::I32(balance),
        SqlValue::String(note.into()),
        SqlValue::I64(at),
    ]
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

fn up<'a>(r: &'a [SqlValue], changed: Option<&'a [String]>) -> SideChange<'a> {
    SideChange {
        kind: OpKind::Update,
        row: Some(r),
        changed,
    }
}

fn del<'a>() -> SideChange<'a> {
    SideChange {
        kind: OpKind::Delete,
        row: None,
        changed: None,
    }
}

fn ins(r: &[SqlValue]) -> SideChange<'_> {
    SideChange {
        kind: OpKind::Insert,
        row: Some(r),
        changed: None,
    }
}

const KEY: &[usize] = &[0];

#[test]
fn a_wins_and_b_wins_pick_their_side_for_every_kind() {
    let (ra, rb) = (row(10, "x", 1), row(20, "y", 2));
    let pairs = [
        (up(&ra, None), up(&rb, None), "update/update"),
        (up(&ra, None), del(), "update/delete"),
        (del(), up(&rb, None), "delete/update"),
        (ins(&ra), ins(&rb), "insert/insert"),
    ];
    for (a, b, kind) in pairs {
        assert_eq!(kind_name(&a, &b), kind);
        let d = decide(&ConflictPolicy::AWins, &cols(), KEY, &a, &b);
        assert_eq!(d, Decision::Win(Side::A), "{kind}");
        let d = decide(&ConflictPolicy::BWins, &cols(), KEY, &a, &b);
        assert_eq!(d, Decision::Win(Side::B), "{kind}");
        let d = decide(&ConflictPolicy::Park, &cols(), KEY, &a, &b);
        assert_eq!(d, Decision::Park, "{kind}");
    }
}

#[test]
fn delete_delete_is_agreement_under_every_policy() {
    for p in [
        ConflictPolicy::AWins,
        ConflictPolicy::BWins,
        ConflictPolicy::Park,
        ConflictPolicy::NewerWins("updated_at".into()),
        ConflictPolicy::MergeColumns(ConflictFallback::BWins),
    ] {
        assert_eq!(decide(&p, &cols(), KEY, &del(), &del()), Decision::Agree);
    }
    // An update whose row is gone by now counts as a delete.
    let gone = SideChange {
        kind: OpKind::Update,
        row: None,
        changed: None,
    };
    assert_eq!(
        decide(&ConflictPolicy::AWins, &cols(), KEY, &gone, &del()),
        Decision::Agree
    );
}

#[test]
fn newer_wins_compares_the_column_ties_and_nulls_go_to_a() {
    let p = ConflictPolicy::NewerWins("UPDATED_AT".into());
    let (old, new) = (row(10, "x", 5), row(20, "y", 9));
    assert_eq!(
        decide(&p, &cols(), KEY, &up(&old, None), &up(&new, None)),
        Decision::Win(Side::B)
    );
    assert_eq!(
        decide(&p, &cols(), KEY, &up(&new, None), &up(&old, None)),
        Decision::Win(Side::A)
    );
    let tie = row(30, "z", 5);
    assert_eq!(
        decide(&p, &cols(), KEY, &up(&old, None), &up(&tie, None)),
        Decision::Win(Side::A)
    );
    let mut null_b = row(1, "n", 0);
    null_b[3] = SqlValue::Null;
    assert_eq!(
        decide(&p, &cols(), KEY, &up(&old, None), &up(&null_b, None)),
        Decision::Win(Side::A)
    );
    let mut null_a = old.clone();
    null_a[3] = SqlValue::Null;
    assert_eq!(
        decide(&p, &cols(), KEY, &up(&null_a, None), &up(&new, None)),
        Decision::Win(Side::A)
    );
    // An update beats a concurrent delete, whichever side deleted.
    assert_eq!(
        decide(&p, &cols(), KEY, &del(), &up(&old, None)),
        Decision::Win(Side::B)
    );
    assert_eq!(
        decide(&p, &cols(), KEY, &up(&old, None), &del()),
        Decision::Win(Side::A)
    );
}

#[test]
fn newer_wins_orders_dates_decimals_and_mixed_integers() {
    let dt = |days, increments, scale| SqlValue::DateTime2 {
        days,
        increments,
        scale,
    };
    // 10:00:00.5 at scale 1 vs 10:00:00.4 at scale 7.
    assert_eq!(
        compare(&dt(7, 360_005, 1), &dt(7, 360_004_000_000, 7)),
        Some(Ordering::Greater)
    );
    assert_eq!(
        compare(&dt(8, 0, 7), &dt(7, 999_999, 7)),
        Some(Ordering::Greater)
    );
    let dec = |value, scale| SqlValue::Decimal {
        value,
        precision: 18,
        scale,
    };
    assert_eq!(compare(&dec(150, 2), &dec(15, 1)), Some(Ordering::Equal));
    assert_eq!(compare(&dec(151, 2), &dec(15, 1)), Some(Ordering::Greater));
    assert_eq!(
        compare(&SqlValue::I16(3), &SqlValue::I64(2)),
        Some(Ordering::Greater)
    );
    assert_eq!(
        compare(
            &SqlValue::DateTime {
                days: 1,
                fragments: 2
            },
            &SqlValue::DateTime {
                days: 1,
                fragments: 3
            }
        ),
        Some(Ordering::Less)
    );
    assert_eq!(compare(&SqlValue::Null, &SqlValue::I32(1)), None);
    assert_eq!(
        compare(&SqlValue::String("b".into()), &SqlValue::String("a".into())),
        None
    );
}

#[test]
fn merge_columns_keeps_both_edits_when_disjoint() {
    let p = ConflictPolicy::MergeColumns(ConflictFallback::BWins);
    let a = row(10, "old", 1);
    let b = row(1, "from b", 1);
    let ca = names(&["balance"]);
    let cb = names(&["note"]);
    assert_eq!(
        decide(&p, &cols(), KEY, &up(&a, Some(&ca)), &up(&b, Some(&cb))),
        Decision::Merged(row(10, "from b", 1))
    );
    // The key column never counts as an edit.
    let cb_key = names(&["note", "id"]);
    assert_eq!(
        decide(&p, &cols(), KEY, &up(&a, Some(&ca)), &up(&b, Some(&cb_key))),
        Decision::Merged(row(10, "from b", 1))
    );
}

#[test]
fn merge_columns_falls_back_on_overlap_unknown_columns_or_other_kinds() {
    let p = ConflictPolicy::MergeColumns(ConflictFallback::BWins);
    let (a, b) = (row(10, "x", 1), row(20, "y", 1));
    let both = names(&["balance"]);
    assert_eq!(
        decide(&p, &cols(), KEY, &up(&a, Some(&both)), &up(&b, Some(&both))),
        Decision::Win(Side::B)
    );
    assert_eq!(
        decide(&p, &cols(), KEY, &up(&a, Some(&both)), &up(&b, None)),
        Decision::Win(Side::B)
    );
    assert_eq!(
        decide(&p, &cols(), KEY, &up(&a, Some(&both)), &del()),
        Decision::Win(Side::B)
    );
    assert_eq!(
        decide(&p, &cols(), KEY, &ins(&a), &ins(&b)),
        Decision::Win(Side::B)
    );
    let p = ConflictPolicy::MergeColumns(ConflictFallback::AWins);
    assert_eq!(
        decide(&p, &cols(), KEY, &up(&a, Some(&both)), &up(&b, Some(&both))),
        Decision::Win(Side::A)
    );
}
