// The React example: the demo app's todo list through `useSession`, shared
// by every tab of this browser. Built and served by examples/frontend.mjs.

import { useState } from "react";
import { createRoot } from "react-dom/client";
import { TabHub } from "tabhub";
import { useSession } from "tabhub/react";

// One hub per page, made outside any component. The token in localStorage:
// every tab of this origin joins the same session.
const socket = new URLSearchParams(location.search).get("socket") ?? "ws://127.0.0.1:4000/socket";
const hub = new TabHub({ url: socket, storage: "local" });

function Todos() {
  const { state, status, tabs, push } = useSession(hub);
  const [text, setText] = useState("");
  const [error, setError] = useState("");

  async function add(event) {
    event.preventDefault();
    try {
      await push("add_todo", { text });
      setText("");
      setError("");
    } catch (e) {
      setError(e.reason);
    }
  }

  return (
    <main>
      <h1>Todos (React)</h1>
      <p>
        Connection: <span data-testid="status" data-state={status}>{status}</span>, tabs:{" "}
        <span data-testid="tabs">{tabs ?? 0}</span>
      </p>
      <form onSubmit={add}>
        <input data-testid="todo-input" value={text} onChange={(e) => setText(e.target.value)} placeholder="What to do" />
        <button data-testid="todo-add">Add</button>
      </form>
      {error && <p className="error" data-testid="error">{error}</p>}
      <ul>
        {(state?.todos ?? []).map((todo) => (
          <li key={todo.id} data-testid="todo-item">
            <label>
              <input
                type="checkbox"
                data-testid="todo-done"
                checked={todo.done}
                onChange={() => push("toggle_todo", { id: todo.id })}
              />{" "}
              <span data-testid="todo-text" className={todo.done ? "done" : ""}>{todo.text}</span>
            </label>
          </li>
        ))}
      </ul>
    </main>
  );
}

createRoot(document.getElementById("app")).render(<Todos />);
