// A scripted stand-in server (npm `ws`) for the client's edge cases the real
// binary does not produce on demand: gaps, phx_error, stale join refs,
// unanswered heartbeats, join errors, close codes. It speaks the same V2
// JSON framing; each test scripts the replies.

import { once } from "node:events";

import { WebSocketServer } from "ws";

/**
 * One client connection as the fake server sees it.
 * `frames` holds every frame received; `next(event)` resolves with the next
 * (not yet taken) frame of that event.
 */
class Conn {
  constructor(ws, url) {
    this.ws = ws;
    this.url = new URL(url, "ws://x");
    this.frames = [];
    this.taken = new Set();
    this.waiters = [];
    this.closed = once(ws, "close");
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString());
      this.frames.push(frame);
      this.autoReply(frame);
      this.wake();
    });
  }

  /** Heartbeats are answered unless `answerHeartbeats` is false. */
  autoReply(frame) {
    if (frame[2] === "phoenix" && frame[3] === "heartbeat" && this.answerHeartbeats !== false) {
      this.taken.add(frame);
      this.send([null, frame[1], "phoenix", "phx_reply", { status: "ok", response: {} }]);
    }
  }

  wake() {
    for (const w of [...this.waiters]) {
      const frame = this.frames.find((f) => !this.taken.has(f) && w.match(f));
      if (frame) {
        this.taken.add(frame);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(frame);
      }
    }
  }

  /** The next frame with `event` (and topic, if given). */
  next(event, topic, timeoutMs = 3_000) {
    return new Promise((resolve, reject) => {
      const w = {
        match: (f) => f[3] === event && (topic === undefined || f[2] === topic),
        resolve,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new Error(`fake server: no ${event} frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`));
        }, timeoutMs),
      };
      this.waiters.push(w);
      this.wake();
    });
  }

  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  /** Replies to `frame` (a join or a push). */
  reply(frame, status, response) {
    this.send([frame[0], frame[1], frame[2], "phx_reply", { status, response }]);
  }

  /** Pushes a server message on `joinFrame`'s join. */
  push(joinFrame, event, payload) {
    this.send([joinFrame[0], null, joinFrame[2], event, payload]);
  }

  close(code, reason = "") {
    this.ws.close(code, reason);
  }
}

/** Starts a fake server on a free loopback port. */
export async function startFakeServer() {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  const conns = [];
  const waiters = [];
  wss.on("connection", (ws, req) => {
    const conn = new Conn(ws, req.url);
    conns.push(conn);
    for (const w of waiters.splice(0)) w();
  });
  return {
    url: `ws://127.0.0.1:${wss.address().port}/socket`,
    conns,
    /** Resolves with connection number `n` (0-based) once it exists. */
    async conn(n, timeoutMs = 3_000) {
      const deadline = Date.now() + timeoutMs;
      while (!conns[n]) {
        if (Date.now() > deadline) throw new Error(`fake server: no connection #${n} within ${timeoutMs} ms`);
        await new Promise((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return conns[n];
    },
    async stop() {
      for (const c of conns) c.ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

/** A full join's ok reply with a snapshot. */
export function snapshotReply(tabId, { epoch = "e1", seq = 0, state = {}, leader = true, tabs = 1 } = {}) {
  return { tab_id: tabId, epoch, seq, resume: "snapshot", leader, tabs, state };
}
