/**
 * One camera's session: an onvif library Cam, kept between polls, and the
 * HTTP transport under it, which this driver owns.
 *
 * The library gives no control over its requests beyond a socket idle timeout
 * (120 s by default, and a drip-feeding camera never lets it fire) and reads
 * whole answers into memory. It does accept an http.Agent, so the agent here
 * makes every connection: it counts the bytes each one receives and cuts it
 * off past max_response_bytes, and destroys every connection of the camera
 * when a call's deadline passes. The library then sees a socket error and
 * finishes its request; the call has already failed with "timeout".
 *
 * Calls on one camera run one at a time (a poll and the inventory's
 * identify() may overlap): cameras handle concurrent requests badly, and one
 * call in flight is what lets a deadline destroy "the camera's connections"
 * without hitting another caller's.
 */
import http from "node:http";
import net from "node:net";
import onvif, { type Cam } from "onvif";
import type { Clock } from "../../agent/clock.js";
import { CallFailure, classify, type RawAnswer } from "./errors.js";
import type { Credentials, Endpoint } from "./options.js";

/** Makes and owns every connection of one camera. */
export class CameraTransport extends http.Agent {
  private readonly open = new Set<net.Socket>();
  private closed = false;
  /** Most bytes one connection may receive; undefined: no cap (the snapshot enforces its own). */
  limitBytes: number | undefined;

  constructor(limitBytes: number | undefined) {
    // No keep-alive: an idle connection held to every camera is a handle per
    // camera for nothing, and some embedded servers allow only a few.
    super({ keepAlive: false });
    this.limitBytes = limitBytes;
  }

  override createConnection(
    options: http.ClientRequestArgs,
    callback?: (err: Error | null, stream: net.Socket) => void,
  ): net.Socket | undefined {
    if (this.closed) {
      const err = new CallFailure("transport", "internal", "the camera session was closed");
      process.nextTick(() => (callback as ((e: Error | null) => void) | undefined)?.(err));
      return undefined;
    }
    const socket = net.createConnection(options as net.NetConnectOpts);
    this.open.add(socket);
    socket.once("close", () => this.open.delete(socket));
    // The HTTP request reports the error; this only keeps one that arrives
    // before the request has attached its own listener from being unhandled.
    socket.on("error", () => {});
    const limit = this.limitBytes;
    if (limit !== undefined) {
      let received = 0;
      socket.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > limit) {
          socket.destroy(
            new CallFailure("transport", "protocol", `answer longer than max_response_bytes (${limit} bytes); cut off`, {
              retryable: false,
            }),
          );
        }
      });
    }
    return socket;
  }

  /** Destroy every open connection; their requests fail with `err`. */
  destroyAll(err?: Error): void {
    for (const s of this.open) s.destroy(err);
  }

  get openConnections(): number {
    return this.open.size;
  }

  override destroy(): void {
    this.closed = true;
    this.destroyAll();
    super.destroy();
  }
}

export interface SessionConfig {
  endpoint: Endpoint;
  creds: Credentials | undefined;
  timeoutMs: number;
  maxResponseBytes: number;
}

/** How one call went. Never a rejection: the steps read the raw answer even when the library gave up on it. */
export type Outcome<T> =
  | { ok: true; value: T; raw: RawAnswer | undefined; timing: Timing } |
  { ok: false; failure: CallFailure; raw: RawAnswer | undefined; timing: Timing };

export interface Timing {
  ms: number;
  /** Wall time when the call was sent and when it ended. */
  sentAt: number;
  receivedAt: number;
}

/** A callback-style operation: the library's, or our own (the snapshot download). */
export type Operation<T> = (done: (err: unknown, value?: T) => void) => void;

export class CameraSession {
  readonly cam: Cam;
  readonly transport: CameraTransport;
  /** The media service's path is known (GetCapabilities or GetServices answered). */
  mediaReady = false;
  /** GetSystemDateAndTime has answered at least once: driftMs is measured, not assumed. */
  clockKnown = false;
  /**
   * Whose clock signs WS-Security tokens. "camera" (its reported time) is what
   * ONVIF clients do; "gateway" is for a camera that reports one time and
   * checks tokens against another (e.g. local time sent as UTC), found when
   * signing with its reported time was refused.
   */
  signWith: "camera" | "gateway" = "camera";
  private driftMs: number | null = null;
  private last: RawAnswer | undefined;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    readonly key: string,
    readonly cfg: SessionConfig,
    private readonly clock: Clock,
  ) {
    this.transport = new CameraTransport(cfg.maxResponseBytes);
    this.cam = new onvif.Cam({
      hostname: cfg.endpoint.host,
      port: cfg.endpoint.port,
      path: cfg.endpoint.path,
      ...(cfg.creds ? { username: cfg.creds.username, password: cfg.creds.password } : {}),
      // A backstop only: our own deadline is the one that counts.
      timeout: cfg.timeoutMs,
      agent: this.transport,
      // connect() runs GetSystemDateAndTime, GetServices, GetProfiles and
      // GetVideoSources, and can hang forever when no profile references the
      // first video source (PRODUCT.md). The driver calls what it needs instead.
      autoconnect: false,
    });
    this.cam.on("rawResponse", (xml: string, status: number) => {
      this.last = { status, body: xml };
    });
    this.sign();
  }

  /**
   * Sign WS-Security tokens with the camera's clock, offset by driftMs from
   * ours. The UsernameToken's Created must be fresh by the camera's clock
   * (WSS UsernameToken Profile 1.0 §4), which is why ONVIF clients read
   * GetSystemDateAndTime first. The library computes Created as
   * process.uptime() + timeShift, and leaves it at 1970 until it has one.
   */
  private sign(): void {
    const offset = this.signWith === "camera" ? (this.driftMs ?? 0) : 0;
    this.cam.timeShift = this.clock.now() + offset - process.uptime() * 1000;
  }

  /** Record the camera's clock drift (null: unknown, sign with ours). */
  noteDrift(driftMs: number | null): void {
    this.driftMs = driftMs;
    this.clockKnown = true;
    this.sign();
  }

  useSigning(mode: "camera" | "gateway"): void {
    this.signWith = mode;
    this.sign();
  }

  /** The drift last measured; null when unknown or not measured yet. */
  get measuredDriftMs(): number | null {
    return this.driftMs;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Run fn with this camera to itself; waiting for a turn honours the signal. */
  async exclusive<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release = () => {};
    this.tail = new Promise<void>((r) => {
      release = r;
    });
    try {
      await waitTurn(prev, signal);
      return await fn();
    } finally {
      // Released only once the previous holder is done, even when we gave up waiting.
      prev.then(release, release);
    }
  }

  /**
   * One camera operation under its own deadline (timeout_ms, or a shorter
   * opts.timeoutMs) and the poll's signal, whichever comes first. The answer
   * the library read last is kept (after a Digest retry: the retried one),
   * whatever the library made of it.
   */
  call<T>(
    op: string,
    signal: AbortSignal,
    run: Operation<T>,
    opts: { limitBytes?: number | undefined; timeoutMs?: number } = {},
  ): Promise<Outcome<T>> {
    this.last = undefined;
    // Shorter than timeout_ms for an optional call that must leave its caller time to finish (identify's MAC).
    const timeoutMs = Math.min(opts.timeoutMs ?? this.cfg.timeoutMs, this.cfg.timeoutMs);
    this.transport.limitBytes = "limitBytes" in opts ? opts.limitBytes : this.cfg.maxResponseBytes;
    const started = this.clock.monotonic();
    const sentAt = this.clock.now();
    const timing = (): Timing => ({ ms: this.clock.monotonic() - started, sentAt, receivedAt: this.clock.now() });
    if (this.closed) {
      const failure = new CallFailure("transport", "internal", `${op}: the camera session was closed`);
      return Promise.resolve({ ok: false, failure, raw: undefined, timing: timing() });
    }
    return new Promise<Outcome<T>>((resolve) => {
      let settled = false;
      const finish = (outcome: Outcome<T>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onPollAbort);
        resolve(outcome);
      };
      const giveUp = (failure: CallFailure) => {
        if (settled) return;
        // The library's request fails on its socket error and cleans up after itself.
        this.transport.destroyAll(failure);
        finish({ ok: false, failure, raw: undefined, timing: timing() });
      };
      const onPollAbort = () =>
        giveUp(new CallFailure("transport", "timeout", `${op}: the poll's deadline was reached`, { cause: signal.reason }));
      const timer = setTimeout(
        () => giveUp(new CallFailure("transport", "timeout", `${op}: no complete answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      signal.addEventListener("abort", onPollAbort, { once: true });
      if (signal.aborted) return onPollAbort();
      const done = (err: unknown, value?: T) => {
        const raw = this.last;
        if (err !== null && err !== undefined) finish({ ok: false, failure: classify(op, err, raw), raw, timing: timing() });
        else finish({ ok: true, value: value as T, raw, timing: timing() });
      };
      try {
        run(done);
      } catch (e) {
        // The library throws synchronously on some malformed input of its own making.
        done(e ?? new Error("operation threw"));
      }
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cam.removeAllListeners();
    this.transport.destroy();
  }
}

function waitTurn(prev: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted)
    return Promise.reject(new CallFailure("transport", "timeout", "deadline reached while another operation had the camera"));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(new CallFailure("transport", "timeout", "deadline reached while another operation had the camera"));
    signal.addEventListener("abort", onAbort, { once: true });
    void prev.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}
