//! The bounded journal of recent deltas, and the resume decision for a
//! joining cursor: `current`, `replay` or `snapshot`; docs/protocol.md section 5.4 (resume kinds).

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::ids::Epoch;
use crate::protocol::message::Cursor;
use crate::store::SavedDelta;

/// Recent deltas, oldest first, bounded by count and by bytes (whichever is
/// reached first). Entries are the encoded `delta` payloads, shared with the
/// fan-out, so journaling costs no second encoding.
#[derive(Debug)]
pub(crate) struct Journal {
    entries: VecDeque<SavedDelta>,
    bytes: usize,
    max_len: usize,
    max_bytes: usize,
    /// Where its bytes are added up with other journals' (the hub's
    /// `tabhub_journal_bytes`); taken off again when it is dropped.
    gauge: Option<crate::metrics::Gauge>,
}

/// How a cursor catches up with the session.
#[derive(Debug)]
pub(crate) enum Catchup<'a> {
    /// Up to date.
    Current,
    /// These delta payloads, in seq order, with no gap.
    Replay(Vec<&'a RawValue>),
    /// Send the whole state.
    Snapshot,
}

impl Journal {
    pub(crate) fn new(max_len: usize, max_bytes: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            bytes: 0,
            max_len,
            max_bytes,
            gauge: None,
        }
    }

    /// Adds this journal's bytes, now and as they change, to `gauge`.
    pub(crate) fn count_in(&mut self, gauge: crate::metrics::Gauge) {
        if let Some(old) = self.gauge.replace(gauge) {
            old.sub(as_i64(self.bytes));
        }
        if let Some(g) = &self.gauge {
            g.add(as_i64(self.bytes));
        }
    }

    /// Restores saved entries (oldest first), then applies the bounds.
    pub(crate) fn restore(&mut self, saved: Vec<SavedDelta>) {
        for d in saved {
            self.push(d.seq, d.payload);
        }
    }

    /// Appends the delta that produced `seq`; drops the oldest entries while
    /// over either bound.
    pub(crate) fn push(&mut self, seq: u64, payload: Arc<RawValue>) {
        let before = self.bytes;
        self.bytes += payload.get().len();
        self.entries.push_back(SavedDelta { seq, payload });
        while self.entries.len() > self.max_len || self.bytes > self.max_bytes {
            match self.entries.pop_front() {
                Some(old) => self.bytes -= old.payload.get().len(),
                None => break,
            }
        }
        if let Some(g) = &self.gauge {
            g.add(as_i64(self.bytes) - as_i64(before));
        }
    }

    /// Entries, oldest first.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &SavedDelta> {
        self.entries.iter()
    }

    /// The seq of the oldest entry, `None` when empty.
    pub(crate) fn first_seq(&self) -> Option<u64> {
        self.entries.front().map(|d| d.seq)
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Decides how a joining `cursor` catches up with a session at
    /// `(epoch, seq)`. A cursor of another epoch, ahead of the session, or
    /// older than the journal's first entry gets a snapshot.
    pub(crate) fn catchup(&self, cursor: Option<&Cursor>, epoch: &Epoch, seq: u64) -> Catchup<'_> {
        let Some(cursor) = cursor else {
            return Catchup::Snapshot;
        };
        if &cursor.epoch != epoch || cursor.seq > seq {
            return Catchup::Snapshot;
        }
        if cursor.seq == seq {
            return Catchup::Current;
        }
        match self.entries.front() {
            // Gapless only if the journal still holds the delta right after
            // the cursor.
            Some(first) if first.seq <= cursor.seq + 1 => Catchup::Replay(
                self.entries
                    .iter()
                    .filter(|d| d.seq > cursor.seq)
                    .map(|d| &*d.payload)
                    .collect(),
            ),
            _ => Catchup::Snapshot,
        }
    }
}

impl Drop for Journal {
    /// A session that stops takes its journal's bytes off the total.
    fn drop(&mut self) {
        if let Some(g) = &self.gauge {
            g.sub(as_i64(self.bytes));
        }
    }
}

/// Bytes as a gauge value (a journal holds far less than `i64::MAX`).
fn as_i64(bytes: usize) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(seq: u64) -> Arc<RawValue> {
        Arc::from(
            RawValue::from_string(format!("{{\"seq\":{seq}}}")).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    fn journal_with(n: u64, max_len: usize, max_bytes: usize) -> Journal {
        let mut j = Journal::new(max_len, max_bytes);
        for s in 1..=n {
            j.push(s, raw(s));
        }
        j
    }

    fn cursor(epoch: &Epoch, seq: u64) -> Cursor {
        Cursor {
            epoch: epoch.clone(),
            seq,
        }
    }

    #[test]
    fn keeps_at_most_max_len_entries() {
        let j = journal_with(10, 4, usize::MAX);
        assert_eq!(j.len(), 4);
        assert_eq!(
            j.entries().map(|d| d.seq).collect::<Vec<_>>(),
            vec![7, 8, 9, 10]
        );
    }

    #[test]
    fn keeps_at_most_max_bytes() {
        // Each payload `{"seq":N}` is 9 bytes for N < 10.
        let j = journal_with(9, 100, 20);
        assert_eq!(j.len(), 2);
    }

    #[test]
    fn no_cursor_other_epoch_or_future_seq_get_a_snapshot() {
        let e = Epoch::new("e");
        let j = journal_with(5, 10, usize::MAX);
        assert!(matches!(j.catchup(None, &e, 5), Catchup::Snapshot));
        assert!(matches!(
            j.catchup(Some(&cursor(&Epoch::new("old"), 5)), &e, 5),
            Catchup::Snapshot
        ));
        assert!(matches!(
            j.catchup(Some(&cursor(&e, 6)), &e, 5),
            Catchup::Snapshot
        ));
    }

    #[test]
    fn an_up_to_date_cursor_is_current() {
        let e = Epoch::new("e");
        let j = journal_with(5, 10, usize::MAX);
        assert!(matches!(
            j.catchup(Some(&cursor(&e, 5)), &e, 5),
            Catchup::Current
        ));
    }

    #[test]
    fn a_cursor_within_the_journal_replays_exactly_the_missing_deltas() {
        let e = Epoch::new("e");
        let j = journal_with(5, 10, usize::MAX);
        let Catchup::Replay(ds) = j.catchup(Some(&cursor(&e, 2)), &e, 5) else {
            panic!("expected replay");
        };
        assert_eq!(
            ds.iter().map(|d| d.get()).collect::<Vec<_>>(),
            vec![r#"{"seq":3}"#, r#"{"seq":4}"#, r#"{"seq":5}"#]
        );
        // Cursor 0 with the whole history kept is a replay too.
        assert!(
            matches!(j.catchup(Some(&cursor(&e, 0)), &e, 5), Catchup::Replay(d) if d.len() == 5)
        );
    }

    #[test]
    fn a_cursor_older_than_the_journal_gets_a_snapshot() {
        let e = Epoch::new("e");
        let j = journal_with(10, 3, usize::MAX); // keeps 8, 9, 10
        assert!(matches!(
            j.catchup(Some(&cursor(&e, 6)), &e, 10),
            Catchup::Snapshot
        ));
        assert!(
            matches!(j.catchup(Some(&cursor(&e, 7)), &e, 10), Catchup::Replay(d) if d.len() == 3)
        );
    }
}
