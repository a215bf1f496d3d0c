/**
 * panic-dc09: a DC-09 receiver inside the agent. Alarm panels and
 * panic-button receivers send events and NULL link tests over TCP or UDP;
 * one device = one account.
 *
 * Per frame, synchronously: find the device by the frame's account (several
 * accounts may share one listening address), decide the answer with
 * drivers/dc09 receive(), map the events (mapping.ts), store them with
 * deps.report() — durable (fsync) when it returns — and only then send the
 * ACK. If report() throws (or there is no report(): the driver runs alone),
 * nothing is sent and the replay memory is rolled back, so the panel's
 * retry is taken as new. An alarm acknowledged to its sender is never lost.
 *
 * poll() does not talk to the panel: it opens the device's listeners (the
 * first time, or after forget()), reads its key, and checks supervision:
 * offline with reason "supervision" when no message or link test arrived
 * within supervision_s.
 */
import { createHash, randomInt, randomUUID } from "node:crypto";
import { DriverError, defineDriver, type DeviceRef, type Driver, type DriverDeps, type Reading } from "../contract.js";
import { AccountPolicy, buildDuh, encodeFrame, type FrameHeader, parseFrame, parseKey, receive, type ReceiverOptions, SequenceTracker } from "../dc09/index.js";
import { Dc09Listener, type Transport } from "./listener.js";
import { type Dc09Memory, mapEvents, parseDc09Memory, TROUBLE_REASONS } from "./mapping.js";
import { sendOnce } from "./self-test.js";
import { type Trace, traced, roundMs } from "../trace.js";
import { keyStep, listenStep, traceReceiver } from "./trace.js";
import { type PanicDc09Options, panicDc09OptionsSchema, resolveKey } from "./options.js";

export { panicDc09OptionsSchema, resolveKey, type PanicDc09Options } from "./options.js";

/**
 * The replay memory, fingerprints hashed: it is stored in the device's
 * memory with every report, and a message's content may be 4 KiB.
 */
class HashedTracker extends SequenceTracker {
  override check(account: string, sequence: number, fingerprint: string, nowMs: number): "new" | "duplicate" {
    return super.check(account, sequence, createHash("sha256").update(fingerprint).digest("base64url").slice(0, 22), nowMs);
  }
}

interface Counters {
  messages: number;
  link_tests: number;
  duplicates: number;
  rejected: number;
  report_failures: number;
}

interface Account {
  deviceId: string;
  account: string;
  options: PanicDc09Options;
  receiver: ReceiverOptions;
  tracker: HashedTracker;
  /** The AES key, when the account sends encrypted (test-alarm encrypts its message with it). */
  key: Buffer | undefined;
  memory: Dc09Memory;
  /** Monotonic ms of the last accepted message (or of the start, before any). */
  lastHeard: number;
  heardAny: boolean;
  counters: Counters;
  endpoints: string[];
  ports: Partial<Record<Transport, number>>;
}

interface Endpoint {
  listener: Dc09Listener;
  /** Account (upper case) → device id. */
  accounts: Map<string, string>;
}

/** The driver, with what tests need to reach its listeners. */
export interface Dc09ReceiverDriver extends Driver<PanicDc09Options> {
  /** The ports a started device listens on (port 0 in the options: the system's choice). */
  portsOf(deviceId: string): Partial<Record<Transport, number>> | undefined;
}

const NO_ACCOUNTS = new AccountPolicy([]);

export function createDc09Receiver(deps: DriverDeps & { env?: NodeJS.ProcessEnv }): Dc09ReceiverDriver {
  const { log, clock } = deps;
  const accounts = new Map<string, Account>();
  const starting = new Map<string, Promise<Account>>();
  const endpoints = new Map<string, Endpoint>();
  /** Listeners being opened, by address: shared by the devices that start together. */
  const opening = new Map<string, Promise<Endpoint>>();
  /** Bumped by forget(): a start still under way for an older generation gives its listeners back. */
  const generation = new Map<string, number>();
  /** Test alarms on their way through our own listener: "account|sequence" → the ids of what was stored. */
  const selfTests = new Map<string, string[]>();
  /** A tracker for frames no device takes (never consulted: they are refused before). */
  const scratch = new SequenceTracker({ maxAccounts: 1, perAccount: 1 });

  function onFrame(endpointKey: string, bytes: Buffer, transport: Transport): Buffer | undefined {
    const now = new Date(clock.now());
    let header: FrameHeader | undefined;
    try {
      header = parseFrame(bytes).header;
    } catch {
      header = undefined; // receive() below gives the NAK / DUH this deserves
    }
    const deviceId = header === undefined ? undefined : endpoints.get(endpointKey)?.accounts.get(header.account.toUpperCase());
    const acct = deviceId === undefined ? undefined : accounts.get(deviceId);
    if (acct === undefined || header === undefined) {
      const r = receive(bytes, { options: { accounts: NO_ACCOUNTS }, tracker: scratch, now });
      log.debug({ transport, answer: r.answer, reason: r.error?.reason, account: header?.account }, `DC-09 message refused: ${r.error?.message ?? "no device"}`);
      return r.response;
    }
    const dlog = log.child({ device: acct.deviceId });
    const o = acct.options;
    if ((o.receiver !== undefined && !sameHex(header.receiver, o.receiver)) || (o.line !== undefined && !sameHex(header.line, o.line))) {
      acct.counters.rejected++;
      dlog.warn({ receiver: header.receiver, line: header.line }, "DC-09 message for another receiver or line: DUH");
      return buildDuh(header);
    }
    const before = acct.tracker.entries(acct.account);
    const r = receive(bytes, { options: acct.receiver, tracker: acct.tracker, now });
    switch (r.status) {
      case "rejected":
        acct.counters.rejected++;
        dlog.warn({ transport, answer: r.answer, reason: r.error?.reason }, `DC-09 message refused: ${r.error?.message ?? ""}`);
        return r.response;
      case "link_test":
        acct.counters.link_tests++;
        heard(acct);
        return r.response;
      case "duplicate":
        acct.counters.duplicates++;
        heard(acct);
        dlog.info({ sequence: r.frame?.sequence }, "DC-09 retransmission of a message already stored: ACK, not reported again");
        return r.response;
      case "event": {
        const mapped = mapEvents(acct.memory, r.events, now.getTime(), { zones: o.zones }, randomUUID);
        const selfTest = r.frame === undefined ? undefined : selfTests.get(`${acct.account}|${r.frame.sequence}`);
        if (selfTest !== undefined) {
          for (const a of mapped.alarms) a.source = { ...a.source, requested_by: "campus-agent test-alarm" };
        }
        const memory: Dc09Memory = { ...mapped.memory, seen: acct.tracker.entries(acct.account) };
        try {
          if (deps.report === undefined) throw new Error("no report(): this driver runs alone and cannot store events");
          deps.report(acct.deviceId, { alarms: mapped.alarms, events: mapped.events, memory });
        } catch (err) {
          // Not stored: not acknowledged either. Forget we saw it, so the retry is taken as new.
          acct.tracker.load(acct.account, before);
          acct.counters.report_failures++;
          dlog.error({ err, sequence: r.frame?.sequence }, "DC-09 events could not be stored: no ACK, the panel will send again");
          return undefined;
        }
        acct.memory = memory;
        selfTest?.push(...mapped.alarms.map((a) => a.id));
        acct.counters.messages++;
        heard(acct);
        return r.response;
      }
    }
  }

  function heard(acct: Account): void {
    acct.lastHeard = clock.monotonic();
    acct.heardAny = true;
  }

  async function start(device: DeviceRef<PanicDc09Options>, ctxMemory: unknown, trace: Trace | undefined): Promise<Account> {
    const gen = generation.get(device.id) ?? 0;
    const o = device.options;
    const account = o.account.toUpperCase();
    const keyTrace = o.key_file === undefined && o.key_env === undefined ? undefined : trace;
    const key = await traced(keyTrace, () => keyStep(o), () => resolveKey(o, deps.env));
    const memory = parseDc09Memory(deps.memoryOf?.(device.id) ?? ctxMemory);
    const tracker = new HashedTracker({ maxAccounts: 1 });
    tracker.load(account, memory.seen);
    const acct: Account = {
      deviceId: device.id,
      account,
      options: o,
      receiver: {
        accounts: new AccountPolicy([{ account, ...(key !== undefined ? { key } : {}) }]),
        timestampCheck: o.timestamp_check,
        ...(o.timestamp_window_s !== undefined
          ? { window: { aheadMs: o.timestamp_window_s.ahead * 1000, behindMs: o.timestamp_window_s.behind * 1000 } }
          : {}),
      },
      tracker,
      key: key === undefined ? undefined : parseKey(key),
      memory,
      lastHeard: clock.monotonic(),
      heardAny: false,
      counters: { messages: 0, link_tests: 0, duplicates: 0, rejected: 0, report_failures: 0 },
      endpoints: [],
      ports: {},
    };
    try {
      for (const transport of new Set(o.listen.protocols)) {
        const k = `${transport}|${o.listen.host}|${o.listen.port}`;
        let ep = await traced(trace, () => listenStep(transport, o), () => endpointFor(k, transport, o));
        // Closed meanwhile (the device that opened it was removed): open it again.
        if (endpoints.get(k) !== ep) ep = await endpointFor(k, transport, o);
        const taken = ep.accounts.get(account);
        if (taken !== undefined && taken !== device.id) {
          throw new DriverError("config", `account ${account} on ${transport} ${o.listen.host}:${o.listen.port} is already device ${taken}'s`, { retryable: false });
        }
        ep.accounts.set(account, device.id);
        acct.endpoints.push(k);
        acct.ports[transport] = ep.listener.port;
      }
    } catch (e) {
      await release(acct);
      throw e;
    }
    if ((generation.get(device.id) ?? 0) !== gen) {
      await release(acct);
      throw new DriverError("internal", "the device was removed or changed while its listener started");
    }
    accounts.set(device.id, acct);
    log.info({ device: device.id, account, ports: acct.ports, encrypted: key !== undefined }, "DC-09 receiver listening");
    return acct;
  }

  /**
   * The listener of one address, opened once: devices starting together (all
   * watched at once when the config loads) share one open, instead of each
   * trying to bind the port and all but one failing.
   */
  function endpointFor(k: string, transport: Transport, o: PanicDc09Options): Promise<Endpoint> {
    const ep = endpoints.get(k);
    if (ep !== undefined) return Promise.resolve(ep);
    let p = opening.get(k);
    if (p === undefined) {
      p = Dc09Listener.open(
        { host: o.listen.host, port: o.listen.port, transport, maxConnections: o.listen.max_connections, idleMs: o.listen.idle_timeout_s * 1000 },
        (bytes, t) => onFrame(k, bytes, t),
        log.child({ listen: `${transport}://${o.listen.host}:${o.listen.port}` }),
      ).then(
        (listener) => {
          const opened: Endpoint = { listener, accounts: new Map() };
          endpoints.set(k, opened);
          return opened;
        },
        (e: unknown) => {
          const code = (e as { code?: string }).code;
          // Running alone (campus-agent probe) on a port taken: most likely by the running agent's own receiver.
          const hint = code === "EADDRINUSE" && deps.report === undefined ? " (taken, most likely by the running agent's own receiver: see campus-agent status)" : "";
          throw new DriverError("listen", `cannot listen on ${transport} ${o.listen.host}:${o.listen.port}: ${code ?? String(e)}${hint}`, { cause: e });
        },
      );
      const settled = p.finally(() => opening.delete(k));
      settled.catch(() => {});
      opening.set(k, p);
    }
    return p;
  }

  async function release(acct: Pick<Account, "deviceId" | "account" | "endpoints">): Promise<void> {
    for (const k of acct.endpoints) {
      const ep = endpoints.get(k);
      if (ep === undefined) continue;
      if (ep.accounts.get(acct.account) === acct.deviceId) ep.accounts.delete(acct.account);
      if (ep.accounts.size === 0) {
        endpoints.delete(k);
        await ep.listener.close();
      }
    }
  }

  /** The device's running account, started (traced, when this call starts it) if it is not yet. */
  async function ensure(device: DeviceRef<PanicDc09Options>, memory: unknown, trace?: Trace): Promise<Account> {
    const have = accounts.get(device.id);
    if (have !== undefined) return have;
    let p = starting.get(device.id);
    if (p === undefined) {
      p = start(device, memory, trace).finally(() => starting.delete(device.id));
      starting.set(device.id, p);
    }
    return p;
  }

  return {
    poll: async (device, ctx): Promise<Reading> => {
      const started = clock.monotonic();
      const { trace } = ctx;
      // Traced: whether this poll starts the device (and so reports its key and listeners as it does).
      const running = trace !== undefined && (accounts.has(device.id) || starting.has(device.id));
      const acct = await ensure(device, ctx.memory, trace);
      const silentMs = clock.monotonic() - acct.lastHeard;
      const limitMs = acct.options.supervision_s * 1000;
      const silent = silentMs > limitMs ? `no message or link test for ${Math.round(silentMs / 1000)} s (supervision_s ${acct.options.supervision_s})` : undefined;
      if (trace) traceReceiver(trace, acct, { silentMs, silent, started: !running, alone: deps.report === undefined });
      if (silent !== undefined) throw new DriverError("supervision", silent);
      const lastHeardS = Math.round(silentMs / 100) / 10;
      const base = {
        responseTimeMs: roundMs(clock.monotonic() - started),
        metrics: {
          last_heard_s: acct.heardAny ? lastHeardS : null,
          ...acct.counters,
          open_alarms: acct.memory.open.length,
          open_troubles: acct.memory.troubles.length,
        },
      };
      const troubles = acct.memory.troubles;
      if (troubles.length > 0) {
        // The most telling trouble names the reason (TROUBLE_REASONS is in that order); the text lists them all.
        const order = Object.keys(TROUBLE_REASONS);
        const top = [...troubles].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind))[0];
        return { ...base, health: "degraded", reason: TROUBLE_REASONS[top?.kind ?? "trouble"] ?? "receiver_trouble", reasonText: troubles.map((t) => t.text).join("; ") };
      }
      return {
        ...base,
        health: "ok",
        reason: "ok",
        reasonText: acct.heardAny ? `last message ${lastHeardS} s ago` : `listening, no message yet (${lastHeardS} s)`,
      };
    },
    watch: (device) => {
      // Failures (a port taken, a key file missing) are the first poll's to report.
      ensure(device, undefined).catch(() => {});
    },
    testAlarm: async (device, req) => {
      const acct = await ensure(device, undefined);
      const o = acct.options;
      const transport: Transport = o.listen.protocols.includes("tcp") ? "tcp" : "udp";
      const port = acct.ports[transport];
      if (port === undefined) throw new DriverError("listen", `not listening on ${transport}`);
      const host = reachableHost(o.listen.host);
      const taken = new Set(acct.tracker.entries(acct.account).map((e) => e.sequence));
      let sequence = randomInt(1, 10_000);
      while (taken.has(sequence)) sequence = randomInt(1, 10_000);
      const frame = encodeFrame(
        {
          token: "ADM-CID",
          encrypted: acct.key !== undefined,
          sequence,
          receiver: o.receiver,
          line: o.line,
          account: acct.account,
          data: `#${acct.account}|1601 00 000`,
          timestamp: new Date(clock.now()),
        },
        acct.key === undefined ? {} : { key: acct.key },
      );
      const k = `${acct.account}|${sequence}`;
      const ids: string[] = [];
      selfTests.set(k, ids);
      try {
        const sent = await sendOnce({ transport, host, port, frame, signal: req.signal });
        const via = `DC-09 manual test (ADM-CID 601${acct.key !== undefined ? ", encrypted" : ""}, sequence ${sequence}) over ${transport} ${host}:${port}`;
        if (sent.answer !== "ACK") {
          throw new DriverError("protocol", `${via}: the agent's own listener answered ${sent.answer}, not ACK`, { retryable: false });
        }
        const alarmId = ids[0];
        if (alarmId === undefined) throw new DriverError("internal", `${via}: ACKed, but no test alarm was stored`);
        return { alarmId, via, steps: sent.steps };
      } finally {
        selfTests.delete(k);
      }
    },
    forget: (deviceId) => {
      generation.set(deviceId, (generation.get(deviceId) ?? 0) + 1);
      const acct = accounts.get(deviceId);
      accounts.delete(deviceId);
      if (acct !== undefined) void release(acct);
    },
    close: async () => {
      await Promise.allSettled([...starting.values()]);
      accounts.clear();
      const eps = [...endpoints.values()];
      endpoints.clear();
      await Promise.all(eps.map((ep) => ep.listener.close()));
    },
    portsOf: (deviceId) => accounts.get(deviceId)?.ports,
  };
}

/** Where the agent reaches its own listener: a wildcard address through loopback. */
function reachableHost(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "::1";
  return host;
}

function sameHex(got: string | undefined, want: string): boolean {
  return got !== undefined && got.toUpperCase() === want.toUpperCase();
}

export const panicDc09Driver = defineDriver({
  kind: "panic-dc09",
  description: "DC-09 (SIA IP reporting) receiver: alarm panels and panic-button receivers report to the agent over TCP/UDP.",
  optionsSchema: panicDc09OptionsSchema,
  pollDefaults: { interval_ms: 5000, timeout_ms: 1000 },
  create: (deps) => createDc09Receiver(deps),
});
