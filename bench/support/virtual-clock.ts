/**
 * Discrete-event virtual time for async code. `sleep(ms)` parks the caller on a timer; `run(task)`
 * lets all pending promise work settle, then jumps to the earliest timer and wakes it, until the
 * task is done. The code under test runs unchanged; only `now` and `sleep` are injected.
 *
 * Settling uses `setImmediate`: it fires after the microtask queue is empty, and the simulated
 * world does no real I/O, so by then every promise chain that could progress has progressed.
 */
interface Timer {
  at: number;
  seq: number;
  wake: () => void;
}

export class VirtualClock {
  private t: number;
  private seq = 0;
  private readonly heap: Timer[] = [];
  /** Timers fired so far (a cost measure of the simulation itself). */
  fired = 0;

  constructor(start: number) {
    this.t = start;
  }

  readonly now = (): number => this.t;

  readonly sleep = (ms: number): Promise<void> =>
    new Promise<void>((wake) => {
      this.push({ at: this.t + Math.max(0, ms), seq: this.seq++, wake });
    });

  /** Moves time forward (never back) while nothing runs. */
  advanceTo(time: number): void {
    if (this.heap.length > 0) throw new Error('advanceTo while timers are pending');
    if (time > this.t) this.t = time;
  }

  /** Runs `task` to completion in virtual time. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    let done = false;
    let value: T | undefined;
    let failure: { error: unknown } | undefined;
    task().then(
      (v) => {
        done = true;
        value = v;
      },
      (error: unknown) => {
        done = true;
        failure = { error };
      },
    );
    for (;;) {
      await settle();
      if (done) break;
      const next = this.pop();
      if (!next) throw new Error('virtual clock: the task is waiting on something that is not a timer');
      if (next.at > this.t) this.t = next.at;
      this.fired++;
      next.wake();
      // Wake every timer due at the same instant before settling again.
      while (this.heap.length > 0 && (this.heap[0]?.at ?? Infinity) <= this.t) {
        this.fired++;
        this.pop()?.wake();
      }
    }
    if (failure) throw failure.error instanceof Error ? failure.error : new Error(String(failure.error));
    if (this.heap.length > 0) {
      // Timers left behind (e.g. a sleeping worker of a finished task) would fire in a later run.
      throw new Error(`virtual clock: ${this.heap.length} timers still pending after the task finished`);
    }
    return value as T;
  }

  private push(timer: Timer): void {
    const h = this.heap;
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): Timer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
