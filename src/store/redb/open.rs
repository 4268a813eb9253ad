//! The database handle of a [`RedbStore`]: opening it (schema check, every
//! table created), transactions, and reopening it after redb gave up.
//!
//! After an I/O error while committing (ENOSPC, EIO), redb answers every
//! later write with "a previous I/O error occurred" until the database is
//! opened again. Any failure of redb itself in a transaction marks the
//! store broken; its next call drops the handle and opens the file again
//! (redb recovers its last committed state), and fails, to be tried again
//! at the call after, while that is not possible (the disk still full).

use std::sync::atomic::Ordering;
use std::sync::{PoisonError, RwLock};

use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, StorageBackend,
    WriteTransaction,
};

use super::tables::{fail, Tables, SCHEMA, SCHEMA_VERSION};
use super::{retention, RedbOptions, RedbStore, Source};
use crate::store::StoreError;

impl RedbStore {
    /// Opens the database at `options.path`, creating it (and its parent
    /// directories) if missing.
    ///
    /// # Errors
    /// [`StoreError`] when the directory or file cannot be created, the
    /// file is not a redb database (or is open elsewhere), or its schema
    /// version is not this build's (1).
    pub fn open(options: RedbOptions) -> Result<Self, StoreError> {
        Self::open_from(Source::File, options)
    }

    /// Opens (or creates, when it is empty) the database held by `backend`
    /// instead of a file. This is for fault injection: a test gives a
    /// storage that fails on cue, or loses what was not synced at a
    /// simulated power cut (`tests/power_loss.rs`); a service stores to a
    /// file with [`RedbStore::open`].
    ///
    /// `options.path` only names the database in errors and logs; no file
    /// or directory is touched. After a failure the store reopens the
    /// database on a clone of `backend` (see the module docs), so clones
    /// must share one storage (an `Arc` inside) and, like a file, must
    /// still hold what was synced.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails, holds something other than a
    /// redb database, or one of another schema version.
    pub fn open_with_backend<B>(backend: B, options: RedbOptions) -> Result<Self, StoreError>
    where
        B: StorageBackend + Clone,
    {
        Self::open_from(
            Source::Backend(Box::new(move |builder| {
                builder.create_with_backend(backend.clone())
            })),
            options,
        )
    }

    fn open_from(source: Source, options: RedbOptions) -> Result<Self, StoreError> {
        let db = open_database(&source, &options)?;
        Ok(Self {
            options,
            source,
            db: RwLock::new(Some(db)),
            broken: Default::default(),
        })
    }

    /// Opens the database again if a failure left redb unusable.
    fn recover(&self) -> Result<(), StoreError> {
        if !self.broken.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if !self.broken.load(Ordering::Acquire) {
            return Ok(());
        }
        // The old handle must be gone before the file can be opened again.
        *db = None;
        let reopened = open_database(&self.source, &self.options)?;
        *db = Some(reopened);
        self.broken.store(false, Ordering::Release);
        tracing::info!(path = %self.options.path.display(), "redb database reopened after a failure");
        Ok(())
    }

    /// `e`, noting that redb failed (the next call reopens the database).
    fn broke(&self, e: StoreError) -> StoreError {
        self.broken.store(true, Ordering::Release);
        e
    }

    /// Runs `f` on the open database (reopened first if need be).
    fn with_db<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.recover()?;
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        match db.as_ref() {
            Some(db) => f(db),
            None => Err(StoreError::backend(format_args!(
                "{what}: the database is not open (reopening failed)"
            ))),
        }
    }

    /// A write transaction whose commit is fsync'ed before it returns.
    pub(super) fn begin_write(&self, what: &str) -> Result<WriteTransaction, StoreError> {
        self.with_db(what, |db| {
            let mut txn = db.begin_write().map_err(|e| {
                self.broke(fail(
                    format_args!("{what}: beginning a write transaction"),
                    e,
                ))
            })?;
            txn.set_durability(Durability::Immediate)
                .map_err(|e| fail(format_args!("{what}: setting durability"), e))?;
            Ok(txn)
        })
    }

    /// Commits `txn`; `what` names it in the error.
    pub(super) fn commit(&self, txn: WriteTransaction, what: &str) -> Result<(), StoreError> {
        txn.commit()
            .map_err(|e| self.broke(fail(format_args!("{what}: commit"), e)))
    }

    /// A read transaction; `what` names it in the error.
    pub(super) fn begin_read(&self, what: &str) -> Result<ReadTransaction, StoreError> {
        self.with_db(what, |db| {
            db.begin_read().map_err(|e| {
                self.broke(fail(
                    format_args!("{what}: beginning a read transaction"),
                    e,
                ))
            })
        })
    }
}

/// Opens (or creates) the database, in its file or its backend, and checks
/// or writes its schema, creating every table so read transactions always
/// find them.
fn open_database(source: &Source, options: &RedbOptions) -> Result<Database, StoreError> {
    let path = options.path.display().to_string();
    let db = match source {
        Source::File => {
            if let Some(dir) = options.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| fail(format_args!("creating directory {}", dir.display()), e))?;
            }
            Database::create(&options.path)
        }
        Source::Backend(open) => open(&Database::builder()),
    }
    .map_err(|e| fail(format_args!("opening redb database {path}"), e))?;
    let mut txn = db
        .begin_write()
        .map_err(|e| fail(format_args!("initializing {path}"), e))?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| fail(format_args!("initializing {path}"), e))?;
    {
        let mut schema = txn
            .open_table(SCHEMA)
            .map_err(|e| fail(format_args!("opening table schema of {path}"), e))?;
        let found = schema
            .get("version")
            .map_err(|e| fail(format_args!("reading the schema version of {path}"), e))?
            .map(|v| v.value());
        match found {
            Some(SCHEMA_VERSION) => {}
            Some(v) => {
                return Err(StoreError::unsupported(format_args!(
                    "{path} has schema version {v}, this build reads {SCHEMA_VERSION}"
                )))
            }
            None => {
                schema
                    .insert("version", SCHEMA_VERSION)
                    .map_err(|e| fail(format_args!("writing the schema version of {path}"), e))?;
            }
        }
        Tables::open(&txn)?;
    }
    retention::stamp_unstamped(&txn)?;
    txn.commit()
        .map_err(|e| fail(format_args!("initializing {path}"), e))?;
    Ok(db)
}
