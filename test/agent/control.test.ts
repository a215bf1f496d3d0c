/**
 * The control socket (agent/control): a real Unix socket in a scratch
 * folder, the CLI's client against it, and raw connections for what the
 * client never sends.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { controlRequest } from "../../agent/control/client.js";
import { ControlError, MAX_LINE_BYTES } from "../../agent/control/protocol.js";
import { type ControlHandler, ControlServer } from "../../agent/control/server.js";

const log = pino({ level: "silent" });
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "ctl-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "campus-agent.sock");
}

async function serve(path: string, handlers: Record<string, ControlHandler>): Promise<ControlServer> {
  const s = await ControlServer.open({ path, log, handlers });
  cleanups.push(() => s.close());
  return s;
}

/** Send raw lines on one connection; resolve with every line received until the server closes or `count` lines came. */
function raw(path: string, text: string, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = connect({ path });
    let buf = "";
    const lines = () => buf.split("\n").filter((l) => l !== "");
    s.setEncoding("utf8");
    s.on("data", (c: string) => {
      buf += c;
      if (lines().length >= count) {
        s.destroy();
        resolve(lines());
      }
    });
    s.on("close", () => resolve(lines()));
    s.on("error", reject);
    s.write(text);
  });
}

describe("control socket", () => {
  it("answers a request with its handler's result, and an error with the code the handler threw", async () => {
    const path = scratch();
    await serve(path, {
      ping: () => Promise.resolve({ pid: 42 }),
      fail: () => Promise.reject(new ControlError("unknown_device", "no device x")),
    });
    await expect(controlRequest(path, "ping", {}, 2000)).resolves.toEqual({ pid: 42 });
    await expect(controlRequest(path, "fail", {}, 2000)).rejects.toMatchObject({ code: "unknown_device", message: "no device x" });
    await expect(controlRequest(path, "nope", {}, 2000)).rejects.toMatchObject({ code: "unknown_method", message: 'unknown method "nope"; this agent knows ping, fail' });
  });

  it("is open to its owner and group only (mode 0660), and removes its file when closed", async () => {
    const path = scratch();
    const s = await ControlServer.open({ path, log, handlers: {} });
    expect(statSync(path).mode & 0o777).toBe(0o660);
    await s.close();
    expect(() => statSync(path)).toThrow(/ENOENT/);
  });

  it("answers a bad line with bad_request and keeps the connection for the next request", async () => {
    const path = scratch();
    await serve(path, { echo: (p) => Promise.resolve(p) });
    const lines = await raw(path, 'not json\n{"id":1}\n[1]\n{"id":2,"method":"echo","params":{"a":1}}\n', 4);
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { id: null, ok: false, error: { code: "bad_request", message: "not JSON: one request object per line" } },
      { id: null, ok: false, error: { code: "bad_request", message: "expected a method name" } },
      { id: null, ok: false, error: { code: "bad_request", message: "expected a request object" } },
      { id: 2, ok: true, result: { a: 1 } },
    ]);
  });

  it("closes a connection whose request line grows past the limit, after saying why", async () => {
    const path = scratch();
    await serve(path, {});
    const lines = await raw(path, "x".repeat(MAX_LINE_BYTES + 10), 1);
    expect(JSON.parse(lines[0] ?? "")).toMatchObject({ ok: false, error: { code: "bad_request", message: `request longer than ${MAX_LINE_BYTES} bytes` } });
  });

  it("takes over a socket file left by an agent that died, but not one another agent answers on, nor a file that is not a socket", async () => {
    const path = scratch();
    // A socket file nobody listens on: what a SIGKILLed agent leaves.
    const child = spawn(process.execPath, ["-e", "require('node:net').createServer().listen(process.argv[1], () => console.log('up'))", path], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((r) => child.stdout.once("data", () => r()));
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    expect(statSync(path).isSocket()).toBe(true);
    await expect(controlRequest(path, "ping", {}, 2000)).rejects.toMatchObject({ code: "not_running", message: expect.stringMatching(/^nobody answers on/) as unknown });
    await serve(path, { ping: () => Promise.resolve("second") });
    await expect(controlRequest(path, "ping", {}, 2000)).resolves.toBe("second");

    await expect(ControlServer.open({ path, log, handlers: {} })).rejects.toMatchObject({ code: "in_use", message: expect.stringMatching(/another agent answers/) as unknown });
    const file = `${path}.txt`;
    writeFileSync(file, "not a socket");
    await expect(ControlServer.open({ path: file, log, handlers: {} })).rejects.toMatchObject({ code: "in_use", message: expect.stringMatching(/is not a socket/) as unknown });
  });

  it("the client says the agent is not running when there is no socket", async () => {
    const path = scratch();
    await expect(controlRequest(path, "ping", {}, 2000)).rejects.toMatchObject({ code: "not_running", message: expect.stringMatching(/^no control socket at .*: is the agent running\?/) as unknown });
  });

  it("the client gives up at its deadline when the agent does not answer", async () => {
    const path = scratch();
    await serve(path, { slow: () => new Promise(() => {}) });
    await expect(controlRequest(path, "slow", {}, 200)).rejects.toMatchObject({ code: "timeout" });
  });
});
