// Type-checked by tests/js_package.rs (tsc --strict, nodenext) in a project
// with only the packed tabhub installed. tabhub/react's declarations name
// no React type, so this checks without @types/react or react (a React app
// has them anyway).
import { TabHub } from "tabhub";
import type { PushResult, Session } from "tabhub";
import { useSession } from "tabhub/react";
import type { SessionView } from "tabhub/react";
import { statusStore } from "tabhub/svelte";

type Todos = { todos: string[] };

const hub = new TabHub({ url: "ws://127.0.0.1:1/socket" });

export function TodoCount(): number {
  const view: SessionView<Todos> = useSession<Todos>(hub);
  const status: "connecting" | "open" | "offline" | "closed" = view.status;
  const leader: boolean = view.leader;
  const tabs: number | null = view.tabs;
  const sent: Promise<PushResult> = view.push("add_todo", { text: "hi" });
  const same: Session<Todos> = view.session;
  void [status, leader, tabs, sent, same];
  return view.state?.todos.length ?? 0;
}

export function OtherSession(key: string): number {
  return useSession<Todos>(hub, key, { params: { doc: key } }).state?.todos.length ?? 0;
}

// Typed events: the hook's push is checked like Session<S, E>'s.
type TodoEvents = { add_todo: { payload: { text: string }; reply: { id: string } } };
export async function TypedAdd(): Promise<string | undefined> {
  const { push } = useSession<Todos, TodoEvents>(hub);
  // @ts-expect-error: no such event
  void push("add_todos", { text: "hi" });
  // @ts-expect-error: the payload's shape is wrong
  void push("add_todo", { title: "hi" });
  return (await push("add_todo", { text: "hi" })).data?.id;
}

// @ts-expect-error: a session key is a string
useSession(hub, 42);
// @ts-expect-error: the state is possibly undefined before the first join
useSession<Todos>(hub).state.todos;
// @ts-expect-error: the first argument is a hub
useSession("key");

const unsubscribe: () => void = statusStore(hub).subscribe((s: string) => void s);
unsubscribe();
