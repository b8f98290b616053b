//! [`Dialect`]: one database's statements. [`Dialect::template`] writes the
//! statements every dialect shares once, in the placeholder style and function
//! names of a [`Flavor`]; a dialect module then overrides the few that differ.

use std::sync::Arc;

use crate::SqlOptions;
use crate::row::{INSERT_COLUMNS, INSERT_VALUES, SELECT_COLUMNS};

/// How a driver reports an insert whose key is taken.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InsertConflict {
    /// `INSERT … ON CONFLICT DO NOTHING`: zero rows inserted.
    NoRowsInserted,
    /// A plain `INSERT` fails with a unique violation.
    #[cfg_attr(not(feature = "mysql"), allow(dead_code, reason = "MySQL's only"))]
    UniqueViolation,
}

/// One database's SQL, with the table prefix already spliced in. Placeholders follow
/// the driver (`$1…` or `?`); the parameter order of each statement is documented on
/// its field.
#[derive(Clone, Debug)]
pub(crate) struct Dialect {
    /// Statement that opens a write-locking transaction, or `None` for the pool's
    /// default `BEGIN` (row locks come from `select_for_update`).
    pub begin_write: Option<Arc<str>>,
    /// How `insert` reports a taken key.
    pub insert_conflict: InsertConflict,
    /// `INSERT` of [`INSERT_COLUMNS`] (14 parameters).
    pub insert: Arc<str>,
    /// `SELECT` [`SELECT_COLUMNS`] by `token_hash`.
    pub select: Arc<str>,
    /// The same, locking the row for the transaction.
    pub select_for_update: Arc<str>,
    /// `UPDATE` of the delta-changeable columns, then `token_hash` (see
    /// [`Columns::bind_update`](crate::row::Columns::bind_update)).
    pub update: Arc<str>,
    /// Touch: `last_seen_at`, idle deadline, the same again for `expires_at`,
    /// `token_hash`, `now`; only where `expires_at > now`.
    pub touch: Arc<str>,
    /// `DELETE` by `token_hash`, `RETURNING principal` where the database can
    /// ([`Dialect::delete_returns`]).
    pub delete: Arc<str>,
    /// Whether [`Dialect::delete`] returns the deleted row's principal; if not (MySQL),
    /// the store reads it with [`Dialect::principal_of`] first.
    pub delete_returns: bool,
    /// `SELECT token_hash, ` [`SELECT_COLUMNS`] by `handle`.
    pub select_by_handle: Arc<str>,
    /// `DELETE` by `handle`.
    pub delete_by_handle: Arc<str>,
    /// `SELECT` [`SELECT_COLUMNS`] by `principal` with `expires_at > now`,
    /// ordered by `created_at, handle`.
    pub list_principal: Arc<str>,
    /// `SELECT` [`SELECT_COLUMNS`] with `handle > ?` and `expires_at > now`,
    /// ordered by `handle`, at most `limit` rows (parameters: handle, now, limit).
    pub list_page: Arc<str>,
    /// `DELETE` by `principal`.
    pub delete_principal: Arc<str>,
    /// `DELETE` by `principal` and `handle <> ?`.
    pub delete_principal_except: Arc<str>,
    /// `DELETE` at most `limit` rows with `expires_at <= now` (parameters: now, limit).
    pub purge: Arc<str>,
    /// `SELECT COUNT(*)` with `expires_at > now`.
    pub count: Arc<str>,
    /// [`Dialect::update`] with `AND version = <expected>` appended: the optimistic
    /// apply's compare-and-set (parameters: those of `update`, then the version).
    pub update_if_version: Arc<str>,
    /// Rotation in place: `UPDATE … SET token_hash = <new>`, then the columns of
    /// [`Dialect::update`], `WHERE token_hash = <old>`. The row stays the same row, so a
    /// revoke waiting on its lock deletes it under its new key.
    pub rotate: Arc<str>,
    /// `SELECT principal` by `token_hash`, unlocked: which principal row to lock first.
    pub principal_of: Arc<str>,
    /// Creates the principal's row (generation 0) if missing and locks it for the
    /// transaction (parameter: principal). Returns the generation unless
    /// [`Dialect::principal_read`] is given.
    pub principal_lock: Arc<str>,
    /// Reads the locked generation after [`Dialect::principal_lock`], where that
    /// statement cannot return it (MySQL).
    pub principal_read: Option<Arc<str>>,
    /// `UPDATE <prefix>principals SET generation = generation + 1` by principal.
    pub principal_bump: Arc<str>,
    /// `SELECT generation FROM <prefix>principals` by principal.
    pub generation: Arc<str>,
    /// Inserts a `<prefix>labels` row unless it exists (parameters: name, value,
    /// handle, now).
    pub label_insert: Arc<str>,
    /// `SELECT handle FROM <prefix>labels` by name and value.
    pub label_handles: Arc<str>,
    /// `DELETE` one `<prefix>labels` row (parameters: name, value, handle).
    pub label_forget: Arc<str>,
    /// `DELETE` the `<prefix>labels` rows indexed before `?` whose session no longer
    /// exists.
    pub label_purge: Arc<str>,
}

/// How one database spells the statements the template writes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flavor {
    /// `$1, $2, …` (PostgreSQL) instead of `?`.
    pub numbered_placeholders: bool,
    /// The two-argument maximum and minimum: `max`/`min` (SQLite) or
    /// `GREATEST`/`LEAST`.
    pub greatest_least: (&'static str, &'static str),
    /// `DELETE … RETURNING principal` is supported.
    pub delete_returning: bool,
    /// Rows are locked with `SELECT … FOR UPDATE` (false: the write transaction
    /// itself holds the lock, SQLite's `BEGIN IMMEDIATE`).
    pub select_for_update: bool,
}

impl Dialect {
    /// Every statement in `flavor`'s spelling, for `options`' table prefix, with
    /// `insert` as `INSERT … ON CONFLICT DO NOTHING`, the purge as a bounded
    /// sub-select and the principal lock as an upsert that returns the
    /// generation. Override what a database does differently.
    #[must_use]
    pub(crate) fn template(options: &SqlOptions, flavor: Flavor) -> Self {
        let t = options.table("sessions");
        let p = options.table("principals");
        let l = options.table("labels");
        let (select, insert) = (SELECT_COLUMNS, INSERT_COLUMNS);
        let (greatest, least) = flavor.greatest_least;
        let sql = |text: String| -> Arc<str> {
            if flavor.numbered_placeholders {
                numbered(&text).into()
            } else {
                text.into()
            }
        };
        let set_columns = "principal = ?, data = ?, last_seen_at = ?, idle_deadline = ?, \
             absolute_deadline = ?, expires_at = ?, version = ?, remember = ?, client_ip = ?, \
             user_agent = ?, authentication = ?, rotation = ?, device = ?";
        let by_key = format!("SELECT {select} FROM {t} WHERE token_hash = ?");
        Self {
            begin_write: None,
            insert_conflict: InsertConflict::NoRowsInserted,
            insert: sql(format!(
                "INSERT INTO {t} ({insert}) VALUES ({INSERT_VALUES}) ON CONFLICT DO NOTHING"
            )),
            select_for_update: sql(if flavor.select_for_update {
                format!("{by_key} FOR UPDATE")
            } else {
                by_key.clone()
            }),
            select: sql(by_key),
            update: sql(format!("UPDATE {t} SET {set_columns} WHERE token_hash = ?")),
            touch: sql(format!(
                "UPDATE {t} SET last_seen_at = {greatest}(last_seen_at, ?), idle_deadline = {least}(?, absolute_deadline), \
                 expires_at = {least}(?, absolute_deadline) WHERE token_hash = ? AND expires_at > ?"
            )),
            delete: sql(if flavor.delete_returning {
                format!("DELETE FROM {t} WHERE token_hash = ? RETURNING principal")
            } else {
                format!("DELETE FROM {t} WHERE token_hash = ?")
            }),
            delete_returns: flavor.delete_returning,
            select_by_handle: sql(format!(
                "SELECT token_hash, {select} FROM {t} WHERE handle = ?"
            )),
            delete_by_handle: sql(format!("DELETE FROM {t} WHERE handle = ?")),
            list_principal: sql(format!(
                "SELECT {select} FROM {t} WHERE principal = ? AND expires_at > ? ORDER BY created_at, handle"
            )),
            list_page: sql(format!(
                "SELECT {select} FROM {t} WHERE handle > ? AND expires_at > ? ORDER BY handle LIMIT ?"
            )),
            delete_principal: sql(format!("DELETE FROM {t} WHERE principal = ?")),
            delete_principal_except: sql(format!(
                "DELETE FROM {t} WHERE principal = ? AND handle <> ?"
            )),
            purge: sql(format!(
                "DELETE FROM {t} WHERE token_hash IN (SELECT token_hash FROM {t} WHERE expires_at <= ? LIMIT ?)"
            )),
            count: sql(format!("SELECT COUNT(*) FROM {t} WHERE expires_at > ?")),
            update_if_version: sql(format!(
                "UPDATE {t} SET {set_columns} WHERE token_hash = ? AND version = ?"
            )),
            rotate: sql(format!(
                "UPDATE {t} SET token_hash = ?, {set_columns} WHERE token_hash = ?"
            )),
            principal_of: sql(format!("SELECT principal FROM {t} WHERE token_hash = ?")),
            principal_lock: sql(format!(
                "INSERT INTO {p} (principal, generation) VALUES (?, 0) \
                 ON CONFLICT (principal) DO UPDATE SET generation = {p}.generation RETURNING generation"
            )),
            principal_read: None,
            principal_bump: sql(format!(
                "UPDATE {p} SET generation = generation + 1 WHERE principal = ?"
            )),
            generation: sql(format!("SELECT generation FROM {p} WHERE principal = ?")),
            label_insert: sql(format!(
                "INSERT INTO {l} (name, value, handle, indexed_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
            )),
            label_handles: sql(format!(
                "SELECT handle FROM {l} WHERE name = ? AND value = ?"
            )),
            label_forget: sql(format!(
                "DELETE FROM {l} WHERE name = ? AND value = ? AND handle = ?"
            )),
            label_purge: sql(format!(
                "DELETE FROM {l} WHERE indexed_at < ? AND handle NOT IN (SELECT handle FROM {t})"
            )),
        }
    }
}

/// `?` placeholders numbered `$1, $2, …` in order. The template's statements hold no
/// `?` inside a string literal, so every `?` is a placeholder.
fn numbered(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut next = 1;
    for c in text.chars() {
        if c == '?' {
            out.push('$');
            out.push_str(&next.to_string());
            next += 1;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            numbered("UPDATE t SET a = ?, b = ? WHERE c = ?"),
            "UPDATE t SET a = $1, b = $2 WHERE c = $3"
        );
    }
}
