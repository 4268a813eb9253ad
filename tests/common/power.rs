//! A redb storage that can lose power: every write stays in a volatile
//! layer (the page cache) until `sync_data` makes it durable (the disk).
//! At a cut, what survives is the disk as of the last sync, in one of two
//! ways ([`CutMode`]), and the storage is dead: every later call fails, so
//! nothing written after the cut (a commit still under way, the old
//! service's shutdown) reaches the surviving bytes. A new storage made from
//! those bytes ([`PowerDisk::new`]) is the machine powered on again.
//!
//! The cut comes at a set number of write, resize or sync calls after it is
//! armed ([`PowerDisk::arm`]), so it can land anywhere inside a commit.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rand::rngs::StdRng;
use rand::Rng;
use redb::StorageBackend;
use tokio::sync::watch;

/// Disk pages torn writes split at, in bytes.
pub const TEAR: u64 = 4096;

/// What survives a power cut of the writes made since the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutMode {
    /// None of them.
    DropUnsynced,
    /// A random prefix of them, in the order they were made, whose last
    /// write may be torn at a 4 KiB boundary inside it (its bytes before
    /// the boundary survive, the rest not). The cut point is drawn from
    /// every gap between calls and every boundary inside a write.
    TornPrefix,
}

/// One write or resize not yet synced.
enum Op {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

impl Op {
    fn apply(&self, bytes: &mut Vec<u8>) {
        match self {
            Op::Write { offset, data } => write_at(bytes, *offset, data),
            Op::SetLen(len) => bytes.resize(as_usize(*len), 0),
        }
    }
}

fn as_usize(n: u64) -> usize {
    usize::try_from(n).expect("the test disk fits in memory")
}

fn write_at(bytes: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = as_usize(offset);
    let end = start + data.len();
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[start..end].copy_from_slice(data);
}

/// What a [`PowerDisk`] says about a round.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskStats {
    pub writes: u64,
    pub syncs: u64,
    /// Unsynced writes and resizes lost at the cut (whole or torn).
    pub lost_ops: usize,
    /// Whether a write was torn at the cut.
    pub torn: bool,
}

struct Disk {
    /// What survives a cut: the bytes as of the last sync.
    durable: Vec<u8>,
    /// What reads see: `durable` with `pending` applied.
    current: Vec<u8>,
    /// Writes and resizes since the last sync, oldest first.
    pending: Vec<Op>,
    mode: CutMode,
    rng: StdRng,
    /// Calls (write, resize, sync) left before the cut, once armed.
    countdown: Option<u64>,
    /// Set by the cut: the bytes that survived it.
    survived: Option<Vec<u8>>,
    stats: DiskStats,
    cut: watch::Sender<bool>,
}

impl Disk {
    fn dead() -> io::Error {
        io::Error::other("the power is off")
    }

    /// Fails once the power is off; cuts it when the countdown runs out.
    fn alive(&mut self) -> io::Result<()> {
        if self.survived.is_some() {
            return Err(Self::dead());
        }
        match &mut self.countdown {
            Some(0) => {
                self.cut();
                Err(Self::dead())
            }
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn cut(&mut self) {
        let mut bytes = std::mem::take(&mut self.durable);
        let pending = std::mem::take(&mut self.pending);
        // Where the power went: before op `kept`, or inside it at a 4 KiB
        // boundary (of the disk, not of the write), drawn uniformly from
        // every such point (so a long write is torn more often than a
        // short one is lost whole, as on a disk).
        let (kept, tear) = match self.mode {
            CutMode::DropUnsynced => (0, None),
            CutMode::TornPrefix => {
                let mut points = vec![(pending.len(), None)];
                for (i, op) in pending.iter().enumerate() {
                    points.push((i, None));
                    if let Op::Write { offset, data } = op {
                        let end = offset + data.len() as u64;
                        let inside = (offset / TEAR + 1)..end.div_ceil(TEAR);
                        points.extend(inside.map(|page| (i, Some(page * TEAR))));
                    }
                }
                points[self.rng.random_range(0..points.len())]
            }
        };
        for op in &pending[..kept] {
            op.apply(&mut bytes);
        }
        if let (Some(boundary), Some(Op::Write { offset, data })) = (tear, pending.get(kept)) {
            write_at(&mut bytes, *offset, &data[..as_usize(boundary - offset)]);
            self.stats.torn = true;
        }
        self.stats.lost_ops = pending.len() - kept;
        self.current = Vec::new();
        self.survived = Some(bytes);
        self.countdown = None;
        self.cut.send_replace(true);
    }
}

/// The storage: clones share it (redb reopens on a clone).
#[derive(Clone)]
pub struct PowerDisk {
    disk: Arc<Mutex<Disk>>,
}

impl fmt::Debug for PowerDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerDisk").finish_non_exhaustive()
    }
}

impl PowerDisk {
    /// A disk holding `bytes` (empty: a new database), cut in `mode`, the
    /// torn prefix chosen with `rng`.
    pub fn new(bytes: Vec<u8>, mode: CutMode, rng: StdRng) -> Self {
        let (cut, _) = watch::channel(false);
        let disk = Disk {
            current: bytes.clone(),
            durable: bytes,
            pending: Vec::new(),
            mode,
            rng,
            countdown: None,
            survived: None,
            stats: DiskStats::default(),
            cut,
        };
        Self {
            disk: Arc::new(Mutex::new(disk)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        self.disk.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cuts the power after `calls` more writes, resizes or syncs (the
    /// call after them fails).
    pub fn arm(&self, calls: u64) {
        self.lock().countdown = Some(calls);
    }

    /// Turns `true` at the cut.
    pub fn watch_cut(&self) -> watch::Receiver<bool> {
        self.lock().cut.subscribe()
    }

    /// Cuts the power now, if it is still on.
    pub fn cut_now(&self) {
        let mut disk = self.lock();
        if disk.survived.is_none() {
            disk.cut();
        }
    }

    /// The bytes that survived the cut (`None` before it).
    pub fn survivors(&self) -> Option<Vec<u8>> {
        self.lock().survived.clone()
    }

    pub fn stats(&self) -> DiskStats {
        self.lock().stats
    }
}

impl StorageBackend for PowerDisk {
    fn len(&self) -> io::Result<u64> {
        let disk = self.lock();
        if disk.survived.is_some() {
            return Err(Disk::dead());
        }
        Ok(disk.current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let disk = self.lock();
        if disk.survived.is_some() {
            return Err(Disk::dead());
        }
        let start = as_usize(offset);
        let bytes = disk
            .current
            .get(start..start + out.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut disk = self.lock();
        disk.alive()?;
        let op = Op::SetLen(len);
        op.apply(&mut disk.current);
        disk.pending.push(op);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut disk = self.lock();
        disk.alive()?;
        let disk = &mut *disk;
        for op in disk.pending.drain(..) {
            op.apply(&mut disk.durable);
        }
        disk.stats.syncs += 1;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut disk = self.lock();
        disk.alive()?;
        let op = Op::Write {
            offset,
            data: data.to_vec(),
        };
        op.apply(&mut disk.current);
        disk.pending.push(op);
        disk.stats.writes += 1;
        Ok(())
    }
}
