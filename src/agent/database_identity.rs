//! Which database a server's connection reaches, compared with the one
//! seen before: a failover to another database or a restore (a new
//! recovery fork) is told apart from the same database.

/// How the database a server's connection reaches differs from the one
/// seen before (`name#database_id#recovery_fork_guid`, see
/// `load_sql::DATABASE_IDENTITY`), if it does. A part missing on either side
/// (a store written before forks were recorded, a fork the login may not
/// read) is not compared.
pub(super) fn identity_change(server: &str, seen: &str, now: &str) -> Option<String> {
    if seen.is_empty() || now.is_empty() {
        return None;
    }
    fn split(s: &str) -> Vec<&str> {
        let mut p = s.rsplitn(3, '#').collect::<Vec<_>>();
        p.reverse();
        p
    }
    let (old, new) = (split(seen), split(now));
    let database = |p: &[&str]| p.iter().take(2).copied().collect::<Vec<_>>().join("#");
    let (old_db, new_db) = (database(&old), database(&new));
    if old_db != new_db {
        return Some(format!(
            "server {server} now reaches database {new_db}, not {old_db}: a failover or a different database"
        ));
    }
    match (old.get(2), new.get(2)) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() && !a.eq_ignore_ascii_case(b) => {
            Some(format!(
                "the recovery fork of server {server}'s database {new_db} changed from {a} to {b}: the database was restored from a backup"
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod identity_tests {
    use super::identity_change;

    #[test]
    fn a_new_recovery_fork_is_a_restore_and_an_old_record_is_no_change() {
        let g1 = "1B4C0F1E-0000-4000-8000-000000000001";
        let g2 = "1B4C0F1E-0000-4000-8000-000000000002";
        let with = |g: &str| format!("Sales#5#{g}");
        assert_eq!(identity_change("a", &with(g1), &with(g1)), None);
        assert!(identity_change("a", &with(g1), &with(g2))
            .is_some_and(|r| r.contains("restored") && r.contains(g2)));
        // A store from before forks were recorded: the same database.
        assert_eq!(identity_change("a", "Sales#5", &with(g1)), None);
        // No permission on the view: the fork is empty, not compared.
        assert_eq!(identity_change("a", &with(g1), "Sales#5#"), None);
        assert!(
            identity_change("a", &with(g1), &with(g1).replace("#5#", "#6#"))
                .is_some_and(|r| r.contains("failover"))
        );
    }
}
