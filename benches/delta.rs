//! The cost of one change's delta, through the code the session runs for
//! every settled change (`tabhub::delta::settle`), on a demo state of S
//! todos with one todo's `done` flipped per iteration:
//!
//! - `delta/diff/S`: the handler states nothing; the state is serialized
//!   whole and diffed against its JSON before (O(state)).
//! - `delta/stated/S`: the handler states its change as the demo's
//!   `toggle_todo` does (one `replace` at `/todos/i/done`); the patch is
//!   applied to the JSON in place (O(change)).
//!
//! Each iteration flips the todo in the typed state (and, for `stated`,
//! builds the one-operation patch), then settles: both paths include that
//! O(1) work. The state's JSON carries over from one iteration to the
//! next, as in a session. Run with
//! `cargo bench --bench delta -- --warm-up-time 1 --measurement-time 3`.
//! In a release build the stated path does not serialize the state to
//! check the patch (debug builds do).
#![allow(clippy::unwrap_used)]

use criterion::{black_box, criterion_main, BenchmarkId, Criterion};
use json_patch::jsonptr::PointerBuf;
use json_patch::{Patch, PatchOperation, ReplaceOperation};
use tabhub::demo::{DemoState, Todo};

/// The sizes measured, in todos.
const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

/// `--max-state-bytes`' default: 4 MiB.
const MAX_BYTES: usize = 4 * 1024 * 1024;

/// A demo state with `s` todos, none done, no jobs.
fn demo_state(s: usize) -> DemoState {
    DemoState {
        todos: (0..s)
            .map(|i| Todo {
                id: uuid::Uuid::new_v4().to_string(),
                text: format!("todo number {i}: buy milk"),
                done: false,
            })
            .collect(),
        ..DemoState::default()
    }
}

/// The patch the demo's `toggle_todo` states for todo `i`.
fn toggled(i: usize, done: bool) -> Patch {
    let mut path = PointerBuf::from_tokens(["todos"]);
    path.push_back(i);
    path.push_back("done");
    Patch(vec![PatchOperation::Replace(ReplaceOperation {
        path,
        value: done.into(),
    })])
}

/// One session's state: typed, its JSON, and the JSON's size bound.
struct Session {
    state: DemoState,
    json: serde_json::Value,
    bytes: usize,
}

impl Session {
    fn new(s: usize) -> Self {
        let state = demo_state(s);
        let json = serde_json::to_value(&state).unwrap();
        let bytes = tabhub::delta::json_len_within(&json, usize::MAX).unwrap();
        Self { state, json, bytes }
    }

    /// Flips todo `i` and settles, stating the change or not; returns the
    /// delta.
    fn toggle(&mut self, i: usize, state_it: bool) -> Patch {
        let done = !self.state.todos[i].done;
        self.state.todos[i].done = done;
        let stated = state_it.then(|| toggled(i, done));
        tabhub::delta::settle(
            &mut self.json,
            &mut self.bytes,
            &self.state,
            stated,
            MAX_BYTES,
        )
        .unwrap()
    }
}

fn delta(c: &mut Criterion) {
    let mut group = c.benchmark_group("delta");
    group.sample_size(20);
    for (name, state_it) in [("diff", false), ("stated", true)] {
        for s in SIZES {
            let mut session = Session::new(s);
            let i = s / 2;
            // Both paths give the same one-operation delta.
            assert_eq!(session.toggle(i, state_it), toggled(i, true));
            assert_eq!(session.toggle(i, state_it), toggled(i, false));
            group.bench_with_input(BenchmarkId::new(name, s), &s, |b, _| {
                b.iter(|| black_box(session.toggle(black_box(i), state_it)));
            });
        }
    }
    group.finish();
}

/// The group (what `criterion_group!` would generate, minus its
/// undocumented `pub fn`).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    delta(&mut c);
}

criterion_main!(benches);
