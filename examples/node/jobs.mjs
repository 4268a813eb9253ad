// The Node example's background jobs: timers that push their progress to
// tabhub through the server API (fetch) and end their task there. As in
// examples/python/background_jobs.py: a 410 stops a job quietly; a 503 or
// no answer is tried three times in all, with backoff.

/** A JSON pointer (RFC 6901) from raw segments. */
export const pointer = (...parts) =>
  parts.map((p) => "/" + String(p).replaceAll("~", "~0").replaceAll("/", "~1")).join("");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ATTEMPTS = 3;

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class Jobs {
  /** `apiUrl` with its prefix (`http://127.0.0.1:4000/api`), or undefined. */
  constructor(apiUrl, token, summary) {
    this.base = apiUrl?.replace(/\/+$/, "");
    this.token = token;
    this.summary = summary;
    /** "key\0job" -> {stopped} */
    this.jobs = new Map();
  }

  get enabled() {
    return this.base !== undefined;
  }

  running(key, job) {
    return this.jobs.has(`${key}\0${job}`);
  }

  /** Starts job `job` now (a second start is refused at once); it pushes
   * once the returned function is called, after the answer was sent. */
  start(key, job, steps, stepMs) {
    const handle = { stopped: false, answered: undefined };
    const answered = new Promise((resolve) => (handle.answered = resolve));
    this.jobs.set(`${key}\0${job}`, handle);
    const run = this.#run(key, job, steps, stepMs, handle, answered).finally(() => {
      if (this.jobs.get(`${key}\0${job}`) === handle) this.jobs.delete(`${key}\0${job}`);
    });
    handle.run = run;
    return () => handle.answered();
  }

  cancel(key, job) {
    const handle = this.jobs.get(`${key}\0${job}`);
    if (!handle) return false;
    handle.stopped = true;
    this.jobs.delete(`${key}\0${job}`);
    return true;
  }

  /** Ends every job as failed (best effort, 5 s at most). */
  async close() {
    const running = [...this.jobs.entries()];
    for (const [, handle] of running) handle.stopped = true;
    const ends = running.map(([id]) => {
      const [key, job] = id.split("\0");
      return this.#end(key, job, "failed", "the backend stopped");
    });
    await Promise.race([Promise.all(ends), sleep(5000)]);
  }

  async #run(key, job, steps, stepMs, handle, answered) {
    await Promise.race([answered, sleep(10_000)]);
    const path = `/sessions/${encodeURIComponent(key)}`;
    try {
      for (let i = 1; i <= steps; i++) {
        await sleep(stepMs);
        if (handle.stopped) return;
        const progress = { op: "replace", path: pointer("jobs", job, "progress"), value: i };
        await this.#call("POST", `${path}/state`, { task: job, patch: [progress] });
      }
      await this.#end(key, job, "done");
    } catch (e) {
      if (e.status === 410) return; // cancelled or ended in tabhub
      console.warn(`job ${JSON.stringify(job)} of session ${key.slice(0, 8)} failed: ${e.message}`);
      await this.#end(key, job, "failed", e.message);
    }
  }

  /** Ends the task with the job's final status; never throws. */
  async #end(key, job, status, error) {
    const body = { status, patch: [{ op: "replace", path: pointer("jobs", job, "status"), value: status }] };
    if (error !== undefined) body.error = error;
    const path = `/sessions/${encodeURIComponent(key)}`;
    try {
      const { state } = await this.#call("GET", path);
      if (state?.jobs?.[job]) {
        state.jobs[job].status = status;
        body.summary = this.summary(state);
      }
    } catch {
      // no summary then
    }
    const end = `${path}/tasks/${encodeURIComponent(job)}/end`;
    try {
      try {
        await this.#call("POST", end, body);
      } catch (e) {
        if (e.status !== 422) throw e;
        delete body.patch; // the job is no longer in the state
        await this.#call("POST", end, body);
      }
    } catch (e) {
      if (e.status !== 410) console.warn(`could not end job ${JSON.stringify(job)}: ${e.message}`);
    }
  }

  /** One server API call; retries 503 and no answer. Messages leave the
   * path out: it holds the session key. */
  async #call(method, path, body) {
    for (let attempt = 1; ; attempt++) {
      let error;
      try {
        const response = await fetch(this.base + path, {
          method,
          headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        const answer = await response.json().catch(() => ({}));
        if (response.ok) return answer;
        error = new ApiError(response.status, `tabhub answered ${response.status} ${answer.reason}: ${answer.message}`);
        if (response.status !== 503) throw error;
      } catch (e) {
        if (e instanceof ApiError && e.status !== 503) throw e;
        error ??= new ApiError(undefined, `tabhub unreachable (${e.name})`);
      }
      if (attempt >= ATTEMPTS) throw error;
      await sleep(200 * 2 ** (attempt - 1));
    }
  }
}
