// Type-checked by tests/js_package.rs (tsc --strict, nodenext) in a project
// with only the packed tabhub installed.
import { TabHub, TabHubError, applyPatch, VERSION } from "tabhub";
import type { PatchOperation, PushResult, Session, TabHubOptions } from "tabhub";

type Todos = { todos: string[] };

const options: TabHubOptions = { url: "ws://127.0.0.1:1/socket", maxFullJoins: 3 };
const hub = new TabHub(options);
const session: Session<Todos> = hub.session<Todos>();
const unsubscribe: () => void = session.subscribe((state: Todos) => {
  const count: number = state.todos.length;
  void count;
});
unsubscribe();
const patch: PatchOperation[] = [{ op: "add", path: "/todos/-", value: "hi" }];
const next: unknown = applyPatch({ todos: [] }, patch);
const pushed: Promise<PushResult> = session.push("add_todo", { text: "hi" });
const version: string = VERSION;
const reason: string = new TabHubError("timeout").reason;
void [next, pushed, version, reason];

// @ts-expect-error: push needs an event name (so the types are not `any`)
session.push();

// Typed events survive packing: the name, the payload and the reply's type.
type TodoEvents = { add_todo: { payload: { text: string }; reply: { id: string } } };
const typed = hub.session<Todos, TodoEvents>();
const id: Promise<string | undefined> = typed.push("add_todo", { text: "hi" }).then((r) => r.data?.id);
void id;
// @ts-expect-error: no such event
typed.push("add_todos", { text: "hi" });
// @ts-expect-error: a wrong payload
typed.push("add_todo", { title: "hi" });
// @ts-expect-error: internal members are not in the published types
session._pending;
// @ts-expect-error: maxFullJoins is a number
new TabHub({ maxFullJoins: "3" });
