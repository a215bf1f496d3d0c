/**
 * A counting semaphore with an abortable, first-come first-served queue: how
 * many requests an endpoint has in flight (1 on an RTU bus, a bound on TCP).
 */
export class Slots {
  private used = 0;
  private closedWith: unknown;
  private readonly queue: { grant: (release: () => void) => void; fail: (e: unknown) => void }[] = [];

  constructor(private readonly size: number) {}

  get waiting(): number {
    return this.queue.length;
  }

  get inUse(): number {
    return this.used;
  }

  /** Every slot is taken: an acquire now waits. */
  get full(): boolean {
    return this.used >= this.size;
  }

  /** Resolves with a release function once a slot is free; rejects when the signal aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.used < this.size) {
      this.used++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(entry);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal?.reason);
      };
      const entry = {
        grant: (release: () => void) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
        fail: (e: unknown) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(entry);
    });
  }

  /** Fail every waiter and every later acquire. */
  close(err: unknown): void {
    this.closedWith = err;
    for (const w of this.queue.splice(0)) w.fail(err);
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      // Hand the slot straight to the next waiter: `used` stays the same.
      if (next !== undefined) next.grant(this.releaser());
      else this.used--;
    };
  }
}
