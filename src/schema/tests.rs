use super::*;
use crate::config::{ConflictPolicy, DirectionConfig, Initial, OnExpired, OneShotMode};
use std::collections::BTreeMap;

fn table(direction: DirectionConfig, columns: Option<&[&str]>) -> TableConfig {
    TableConfig {
        name: crate::mssql::ident::TableName::new("dbo", "Ord").expect("name"),
        key: vec!["id".into()],
        identity: false,
        force_id: false,
        columns: columns.map(|c| c.iter().map(|s| s.to_string()).collect()),
        direction,
        references: BTreeMap::new(),
        initial: Initial::None,
        on_expired: OnExpired::Reinit,
        mode: OneShotMode::FullIncremental,
        conflict: ConflictPolicy::AWins,
        allow_key_collation: false,
    }
}

fn col(name: &str, ty: &str) -> CatalogColumn {
    let max_length = match ty {
        "nvarchar" | "varchar" => Some(100),
        _ => None,
    };
    CatalogColumn {
        name: name.into(),
        data_type: ty.into(),
        max_length,
        precision: None,
        scale: None,
        time_precision: None,
        nullable: true,
        has_default: false,
        identity: false,
        computed: false,
        collation: matches!(ty, "nvarchar" | "varchar" | "nchar" | "char")
            .then(|| "SQL_Latin1_General_CP1_CI_AS".to_string()),
    }
}

fn key() -> CatalogColumn {
    CatalogColumn {
        nullable: false,
        ..col("id", "int")
    }
}

#[test]
fn columns_pair_by_name_in_a_order_whatever_each_side_s_order() {
    let a = [key(), col("name", "nvarchar"), col("email", "nvarchar")];
    let b = [key(), col("email", "nvarchar"), col("name", "nvarchar")];
    let t = table(DirectionConfig::Both, None);
    let m = match_columns(&t, &a, &b);
    assert_eq!(m.columns, ["id", "name", "email"]);
    assert!(m.warnings.is_empty() && m.problems.is_empty(), "{m:?}");
    let [sa, sb] = shapes(&t, &m, &a, &b);
    let names = |s: &TableShape| s.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&sa), names(&sb));
}

#[test]
fn a_column_on_one_side_only_is_left_out_with_a_warning() {
    let a = [key(), col("name", "nvarchar"), col("note", "nvarchar")];
    let b = [key(), col("region", "nvarchar"), col("NAME", "nvarchar")];
    let m = match_columns(&table(DirectionConfig::AToB, None), &a, &b);
    assert_eq!(m.columns, ["id", "name"]);
    assert_eq!(m.warnings.len(), 2, "{m:?}");
    assert!(m.warnings[0].contains("note") && m.warnings[0].contains("server a only"));
    assert!(m.warnings[1].contains("region") && m.warnings[1].contains("server b only"));
    assert!(m.problems.is_empty());
}

#[test]
fn columns_that_cannot_be_written_are_left_out_or_refused_when_listed() {
    let rv = col("rv", "timestamp");
    let total = CatalogColumn {
        computed: true,
        ..col("total", "int")
    };
    let seq = CatalogColumn {
        identity: true,
        ..col("seq", "int")
    };
    let a = [
        key(),
        col("name", "nvarchar"),
        rv.clone(),
        total.clone(),
        seq.clone(),
    ];
    let b = a.clone();
    let m = match_columns(&table(DirectionConfig::Both, None), &a, &b);
    assert_eq!(m.columns, ["id", "name"]);
    assert_eq!(m.warnings.len(), 3, "{m:?}");
    assert!(m
        .warnings
        .iter()
        .any(|w| w.contains("rv") && w.contains("rowversion")));
    assert!(m
        .warnings
        .iter()
        .any(|w| w.contains("total") && w.contains("computed")));
    assert!(m
        .warnings
        .iter()
        .any(|w| w.contains("seq") && w.contains("identity")));

    let listed = table(DirectionConfig::AToB, Some(&["id", "name", "rv"]));
    let m = match_columns(&listed, &a, &b);
    assert_eq!(m.problems.len(), 1, "{m:?}");
    assert!(m.problems[0].contains("column rv is listed in `columns`"));
    assert!(m.problems[0].contains("server b"));

    // Only a side that receives writes matters: a's rowversion read into
    // b's binary(8) column is fine one way.
    let b2 = [
        key(),
        col("name", "nvarchar"),
        CatalogColumn {
            max_length: Some(8),
            ..col("rv", "binary")
        },
    ];
    let a2 = [key(), col("name", "nvarchar"), rv];
    let m = match_columns(&table(DirectionConfig::AToB, None), &a2, &b2);
    assert_eq!(m.columns, ["id", "name", "rv"]);
    assert!(m.problems.is_empty(), "{m:?}");
}

#[test]
fn types_that_lose_data_are_refused_naming_both_definitions() {
    let narrow = CatalogColumn {
        max_length: Some(50),
        ..col("name", "nvarchar")
    };
    let a = [key(), col("name", "nvarchar"), col("n", "bigint")];
    let b = [key(), narrow, col("n", "int")];
    let m = match_columns(&table(DirectionConfig::AToB, None), &a, &b);
    assert_eq!(m.problems.len(), 2, "{m:?}");
    assert!(
        m.problems[0].contains("nvarchar(100) NULL on server a but nvarchar(50) NULL on server b")
    );
    assert!(m.problems[1].contains("int cannot hold every bigint value"));
    // The other way the same pair is a widening.
    let m = match_columns(&table(DirectionConfig::BToA, None), &a, &b);
    assert!(m.problems.is_empty(), "{m:?}");
    // Both ways, one of the two directions narrows.
    let m = match_columns(&table(DirectionConfig::Both, None), &a, &b);
    assert_eq!(m.problems.len(), 2, "{m:?}");
}

#[test]
fn nullable_into_not_null_needs_a_default_and_unicode_into_non_unicode_is_refused() {
    let a = [key(), col("v", "nvarchar")];
    let not_null = CatalogColumn {
        nullable: false,
        ..col("v", "nvarchar")
    };
    let m = match_columns(
        &table(DirectionConfig::AToB, None),
        &a,
        &[key(), not_null.clone()],
    );
    assert_eq!(m.problems.len(), 1, "{m:?}");
    assert!(m.problems[0].contains("NOT NULL without a default"));
    let with_default = CatalogColumn {
        has_default: true,
        ..not_null
    };
    assert!(match_columns(
        &table(DirectionConfig::AToB, None),
        &a,
        &[key(), with_default]
    )
    .problems
    .is_empty());
    let m = match_columns(
        &table(DirectionConfig::AToB, None),
        &a,
        &[key(), col("v", "varchar")],
    );
    assert!(m.problems[0].contains("Unicode"), "{m:?}");
}

#[test]
fn decimals_times_and_kinds() {
    let dec = |p, s| CatalogColumn {
        precision: Some(p),
        scale: Some(s),
        ..col("d", "decimal")
    };
    assert!(loses_data(&dec(10, 2), &dec(12, 2)).is_none());
    assert!(loses_data(&dec(10, 2), &dec(10, 1)).is_some());
    assert!(loses_data(&dec(10, 2), &dec(9, 2)).is_some());
    assert!(loses_data(&col("d", "int"), &dec(10, 0)).is_none());
    assert!(loses_data(&col("d", "int"), &dec(10, 2)).is_some());
    let dt2 = |p| CatalogColumn {
        time_precision: Some(p),
        ..col("t", "datetime2")
    };
    assert!(loses_data(&dt2(7), &dt2(3)).is_some());
    assert!(loses_data(&dt2(3), &dt2(7)).is_none());
    assert!(loses_data(&col("t", "datetime"), &dt2(3)).is_none());
    assert!(loses_data(&dt2(3), &col("t", "datetime")).is_some());
    assert!(loses_data(&col("x", "uniqueidentifier"), &col("x", "uniqueidentifier")).is_none());
    assert!(loses_data(&col("x", "int"), &col("x", "nvarchar")).is_some());
    assert!(loses_data(&col("x", "real"), &col("x", "float")).is_none());
    assert!(loses_data(&col("x", "float"), &col("x", "real")).is_some());
}

#[test]
fn types_ctsync_cannot_carry_are_refused_naming_the_column() {
    let a = [
        key(),
        col("doc", "hierarchyid"),
        col("v", "sql_variant"),
        col("name", "nvarchar"),
    ];
    let m = match_columns(&table(DirectionConfig::Both, None), &a, &a);
    assert_eq!(m.columns, ["id", "name"]);
    assert_eq!(m.problems.len(), 2, "{m:?}");
    assert!(
        m.problems[0].contains("column doc (hierarchyid)")
            && m.problems[0].contains("list the other columns")
    );
    assert!(m.problems[1].contains("column v (sql_variant)"));
    for ty in [
        "xml",
        "text",
        "money",
        "smallmoney",
        "datetimeoffset",
        "ntext",
        "image",
        "uniqueidentifier",
    ] {
        assert!(col("x", ty).unsupported().is_none(), "{ty}");
    }
    assert!(col("x", "geography").unsupported().is_some());
}

#[test]
fn collations_say_what_they_tell_apart() {
    assert_eq!(sensitivity("SQL_Latin1_General_CP1_CI_AS"), (false, true));
    assert_eq!(sensitivity("Latin1_General_CS_AS"), (true, true));
    assert_eq!(
        sensitivity("Latin1_General_100_CI_AI_SC_UTF8"),
        (false, false)
    );
    assert_eq!(sensitivity("Latin1_General_BIN2"), (true, true));
    assert_eq!(sensitivity("Japanese_CS_AI_KS_WS"), (true, false));
}

#[test]
fn a_sensitive_key_into_an_insensitive_one_is_refused_unless_allowed() {
    let with = |c: &str| CatalogColumn {
        nullable: false,
        collation: Some(c.to_string()),
        ..col("code", "nvarchar")
    };
    let mut t = table(DirectionConfig::AToB, None);
    t.key = vec!["code".into()];
    let a = [with("Latin1_General_CS_AS")];
    let b = [with("SQL_Latin1_General_CP1_CI_AS")];
    let m = match_columns(&t, &a, &b);
    assert_eq!(m.problems.len(), 1, "{m:?}");
    assert!(
        m.problems[0].contains("differ only in case")
            && m.problems[0].contains("Latin1_General_CS_AS")
            && m.problems[0].contains("allow_key_collation"),
        "{m:?}"
    );
    // Insensitive into sensitive merges nothing.
    assert!(match_columns(&t, &b, &a).problems.is_empty());
    // A non-key column may differ.
    let mut t2 = table(DirectionConfig::AToB, None);
    t2.key = vec!["id".into()];
    let a2 = [key(), with("Latin1_General_CS_AS")];
    let b2 = [key(), with("SQL_Latin1_General_CP1_CI_AS")];
    assert!(match_columns(&t2, &a2, &b2).problems.is_empty());
    // Allowed by the operator.
    t.allow_key_collation = true;
    assert!(match_columns(&t, &a, &b).problems.is_empty());
}
