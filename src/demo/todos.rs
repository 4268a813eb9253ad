//! The todo list's changes. Each states its change as a patch
//! ([`Context::changed`]), so its delta costs the todo's size, whatever the
//! list's length.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation, ReplaceOperation};
use serde_json::json;

use super::{Demo, DemoState, Todo};
use crate::app::{AppError, Context};

fn index(state: &DemoState, id: &str) -> Result<usize, AppError> {
    state
        .todos
        .iter()
        .position(|t| t.id == id)
        .ok_or_else(|| AppError::handler(format!("no todo with id {id:?}")))
}

/// Longest todo text, in chars.
const MAX_TODO_CHARS: usize = 100_000;

/// Appends a todo, states the change (an `add` at `/todos/N`, N the
/// old length) and returns
/// the todo's id. Text over 100,000 chars is refused with the app's own
/// reason `too_long` and data `{"max": 100000}`.
pub(super) fn add(
    state: &mut DemoState,
    text: String,
    cx: &mut Context<'_, Demo>,
) -> Result<String, AppError> {
    if text.trim().is_empty() {
        return Err(AppError::invalid_payload("text must not be empty"));
    }
    if text.chars().count() > MAX_TODO_CHARS {
        return Err(AppError::refuse(
            "too_long",
            format!("a todo has at most {MAX_TODO_CHARS} characters"),
        )
        .with_data(json!({ "max": MAX_TODO_CHARS })));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let todo = Todo {
        id: id.clone(),
        text,
        done: false,
    };
    let value = serde_json::to_value(&todo)
        .map_err(|e| AppError::handler(format!("a todo did not serialize: {e}")))?;
    cx.changed(one_op(PatchOperation::Add(AddOperation {
        path: todo_path(state.todos.len(), None),
        value,
    })));
    state.todos.push(todo);
    Ok(id)
}

/// The pointer to todo `i` (`/todos/i`), or to its `field`.
fn todo_path(i: usize, field: Option<&str>) -> PointerBuf {
    let mut path = PointerBuf::from_tokens(["todos"]);
    path.push_back(i);
    if let Some(field) = field {
        path.push_back(field);
    }
    path
}

/// A patch of one operation.
fn one_op(op: PatchOperation) -> Patch {
    Patch(vec![op])
}

/// Flips todo `id`'s `done` (a `replace` at `/todos/i/done`); an unknown
/// id is `handler_error`.
pub(super) fn toggle(
    state: &mut DemoState,
    id: &str,
    cx: &mut Context<'_, Demo>,
) -> Result<(), AppError> {
    let i = index(state, id)?;
    let done = !state.todos[i].done;
    state.todos[i].done = done;
    cx.changed(one_op(PatchOperation::Replace(ReplaceOperation {
        path: todo_path(i, Some("done")),
        value: done.into(),
    })));
    Ok(())
}

/// Removes todo `id` (a `remove` at `/todos/i`); an unknown id is
/// `handler_error`.
pub(super) fn remove(
    state: &mut DemoState,
    id: &str,
    cx: &mut Context<'_, Demo>,
) -> Result<(), AppError> {
    let i = index(state, id)?;
    state.todos.remove(i);
    cx.changed(one_op(PatchOperation::Remove(RemoveOperation {
        path: todo_path(i, None),
    })));
    Ok(())
}
