//! Which database errors mean "not there right now" (503) rather than "this request is wrong".

use super::pool::note_outage;
use super::StoreError;

/// Errors that mean "the database is not there right now" rather than "this request is wrong".
pub(crate) fn classify(err: sqlx::Error) -> StoreError {
    let classified = classify_error(err);
    if matches!(classified, StoreError::Unavailable(_)) {
        note_outage();
    }
    classified
}

fn classify_error(err: sqlx::Error) -> StoreError {
    match &err {
        // A connection cut in the middle of a message surfaces as an I/O or a protocol error.
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL: 57014 statement timeout, 57P01-03 shutdown, 08xxx connection, 53xxx
            // out of resources (disk full, too many connections). SQLite (primary code, the low
            // byte of an extended one): 5/6 busy/locked, 10 I/O error, 11 corrupt, 13 disk full,
            // 14 cannot open, 26 not a database; the store cannot serve either way.
            let unavailable = if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                let primary = code.parse::<u32>().ok().map(|c| c & 0xff);
                matches!(primary, Some(5 | 6 | 10 | 11 | 13 | 14 | 26))
            } else {
                code == "57014"
                    || code.starts_with("57P")
                    || code.starts_with("08")
                    || code.starts_with("53")
            };
            if unavailable {
                StoreError::Unavailable(err.to_string())
            } else {
                StoreError::Other(err.into())
            }
        }
        _ => StoreError::Other(err.into()),
    }
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

#[cfg(test)]
mod tests {
    /// A SQLite file that is not a database (or cannot be opened) means the store cannot serve:
    /// 503, as for a PostgreSQL that is down, never a 500.
    #[tokio::test]
    async fn a_broken_sqlite_file_is_unavailable_not_unexpected() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("belts.db");
        std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let err = sqlx::query("SELECT 1 FROM belt_rosters LIMIT 1")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(
            matches!(super::classify(err), super::StoreError::Unavailable(_)),
            "not a database"
        );
        let missing = dir.path().join("no-such-dir").join("belts.db");
        let err = sqlx::SqliteConnection::connect(&format!("sqlite://{}", missing.display()))
            .await
            .unwrap_err();
        assert!(
            matches!(super::classify(err), super::StoreError::Unavailable(_)),
            "cannot open"
        );
    }
}
