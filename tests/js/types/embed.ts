// The embed example's Rust types, as ts-rs emits them
// (examples/embed-events.ts), type a Session: state, event names,
// payloads and the reply of `add` (docs/embedding.md, "TypeScript types
// for the client").
import { TabHub } from "../../../assets/tabhub.js";
import type { EventsOf, Session } from "../../../assets/tabhub.js";
import type { AddReply, CounterEvent, CounterState } from "../../../examples/embed-events.js";

type CounterEvents = EventsOf<CounterEvent, { add: AddReply }>;

const hub = new TabHub({ url: "ws://127.0.0.1:1/socket" });
const counter: Session<CounterState, CounterEvents> = hub.session<CounterState, CounterEvents>();

export async function counterUse(): Promise<void> {
  const added = await counter.push("add", { by: 2 });
  const count: number | undefined = added.data?.count;
  const ticked = await counter.push("tick", { ticks: 3, every_ms: 100 });
  const none: undefined = ticked.data;
  counter.subscribe((state) => {
    const shown: string = `${state.count}${state.ticking ? " (ticking)" : ""}`;
    void shown;
  });
  void [count, none];
}

export async function counterMistakes(): Promise<void> {
  // @ts-expect-error: the example has no `reset` event
  await counter.push("reset", {});
  // @ts-expect-error: `by` is a number
  await counter.push("add", { by: "2" });
  // @ts-expect-error: tick needs `every_ms`
  await counter.push("tick", { ticks: 3 });
  // @ts-expect-error: add needs its payload
  await counter.push("add");
}
