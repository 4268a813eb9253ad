// Typed events: Session<State, Events> checks push's name and payload and
// types its reply's data (docs/javascript-client.md, "Typed events").
import { TabHub } from "../../../assets/tabhub.js";
import type { PushResult, Session } from "../../../assets/tabhub.js";

type Todos = { todos: { id: string; text: string }[] };
type TodoEvents = {
  add_todo: { payload: { text: string }; reply: { id: string } };
  remove_todo: { payload: { id: string } };
  clear: { payload?: {} };
};

const hub = new TabHub({ url: "ws://127.0.0.1:1/socket" });
const session: Session<Todos, TodoEvents> = hub.session<Todos, TodoEvents>();

export async function typedUse(): Promise<void> {
  // The reply's type flows out of push.
  const added = await session.push("add_todo", { text: "milk" });
  const id: string | undefined = added.data?.id;
  const seq: number = added.seq;
  // An event without a reply type has no data.
  const removed: PushResult<undefined> = await session.push("remove_todo", { id: "t-1" });
  // A payload that may be left out may be left out.
  await session.push("clear");
  session.subscribe((state) => {
    const texts: string[] = state.todos.map((t) => t.text);
    void texts;
  });
  void [id, seq, removed];
}

export async function mistakes(): Promise<void> {
  // @ts-expect-error: no such event
  await session.push("add_todos", { text: "milk" });
  // @ts-expect-error: the payload of add_todo has no `title`
  await session.push("add_todo", { title: "milk" });
  // @ts-expect-error: add_todo's `text` is a string
  await session.push("add_todo", { text: 1 });
  // @ts-expect-error: add_todo needs its payload
  await session.push("add_todo");
  const added = await session.push("add_todo", { text: "milk" });
  // @ts-expect-error: the reply's data is {id: string}, not a number
  const wrong: number | undefined = added.data;
  void wrong;
}

export async function untypedUse(): Promise<void> {
  // Without type arguments any name and payload go, as before.
  const plain = hub.session();
  const result = await plain.push("anything", { at: "all" });
  const data: any = result.data;
  await plain.push("no_payload");
  const pushed: Promise<PushResult> = plain.push("add_todo", { text: "hi" });
  const state: Todos = hub.session<Todos>().state ?? { todos: [] };
  void [data, pushed, state];
}
// An event spec without `payload` takes any payload, or none.
type Loose = { ping: { reply: number } };
export async function loose(s: Session<unknown, Loose>): Promise<void> {
  await s.push("ping");
  await s.push("ping", { any: 1 });
}
