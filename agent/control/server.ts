/**
 * The agent's control socket: a Unix domain socket (never a TCP port) that
 * the CLI on the same gateway uses to ask the running agent things only it
 * can do or knows (`campus-agent test-alarm`, `status`, `devices`). Owner
 * and group may connect (mode 0660): run the CLI as the service's user, as
 * root, or as a member of its group. Line-delimited JSON (protocol.ts);
 * requests on one connection are answered in the order they complete.
 *
 * A socket file left by an agent that died is removed at start; a socket
 * another agent still answers on is not (ControlError "in_use").
 */
import { chmod, lstat, unlink } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import type { Logger } from "pino";
import { ControlError, type ControlRequest, type ControlResponse, MAX_LINE_BYTES } from "./protocol.js";

/** A method's implementation: params in, a JSON-serialisable result out; throw ControlError to answer with its code. */
export type ControlHandler = (params: Record<string, unknown>) => Promise<unknown>;

export interface ControlServerOptions {
  path: string;
  handlers: Readonly<Record<string, ControlHandler>>;
  log: Logger;
  /** File mode of the socket. Default 0o660. */
  mode?: number;
  /** Connections open at once; more are closed at once. Default 16. */
  maxConnections?: number;
}

export class ControlServer {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly path: string,
  ) {}

  static async open(opts: ControlServerOptions): Promise<ControlServer> {
    await removeStale(opts.path);
    const server = createServer((sock) => control.onConnection(sock, opts));
    server.maxConnections = opts.maxConnections ?? 16;
    const control = new ControlServer(server, opts.path);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ path: opts.path }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => opts.log.warn({ err }, "control socket error"));
    try {
      await chmod(opts.path, opts.mode ?? 0o660);
    } catch (err) {
      await control.close();
      throw err;
    }
    return control;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    // server.close() removes the socket file.
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(sock: Socket, opts: ControlServerOptions): void {
    this.sockets.add(sock);
    sock.on("close", () => this.sockets.delete(sock));
    sock.on("error", () => {}); // "close" follows
    let pending = "";
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => {
      pending += chunk;
      let nl = pending.indexOf("\n");
      while (nl >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line !== "") void this.answer(sock, line, opts);
        nl = pending.indexOf("\n");
      }
      if (Buffer.byteLength(pending) > MAX_LINE_BYTES) {
        write(sock, { id: null, ok: false, error: { code: "bad_request", message: `request longer than ${MAX_LINE_BYTES} bytes` } });
        sock.end();
        pending = "";
      }
    });
  }

  private async answer(sock: Socket, line: string, opts: ControlServerOptions): Promise<void> {
    let req: ControlRequest;
    try {
      req = parseRequest(line);
    } catch (e) {
      write(sock, { id: null, ok: false, error: { code: "bad_request", message: (e as Error).message } });
      return;
    }
    const handler = Object.hasOwn(opts.handlers, req.method) ? opts.handlers[req.method] : undefined;
    if (handler === undefined) {
      const known = Object.keys(opts.handlers).join(", ");
      write(sock, { id: req.id, ok: false, error: { code: "unknown_method", message: `unknown method ${JSON.stringify(req.method)}; this agent knows ${known}` } });
      return;
    }
    try {
      const result = await handler(req.params ?? {});
      write(sock, { id: req.id, ok: true, result: result ?? null });
    } catch (e) {
      const code = e instanceof ControlError ? e.code : "internal";
      if (code === "internal") opts.log.error({ err: e, method: req.method }, "control request failed");
      write(sock, { id: req.id, ok: false, error: { code, message: e instanceof Error ? e.message : String(e) } });
    }
  }
}

function parseRequest(line: string): ControlRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error("not JSON: one request object per line");
  }
  const r = v as Partial<ControlRequest> | null;
  if (typeof r !== "object" || r === null || Array.isArray(r)) throw new Error("expected a request object");
  if (typeof r.id !== "number" && typeof r.id !== "string") throw new Error("expected an id (number or string)");
  if (typeof r.method !== "string") throw new Error("expected a method name");
  if (r.params !== undefined && (typeof r.params !== "object" || r.params === null || Array.isArray(r.params))) {
    throw new Error("params must be an object");
  }
  return { id: r.id, method: r.method, ...(r.params !== undefined ? { params: r.params } : {}) };
}

function write(sock: Socket, res: ControlResponse): void {
  if (!sock.destroyed && sock.writable) sock.write(`${JSON.stringify(res)}\n`);
}

/** Remove a socket file no agent answers on; refuse one that is answered, or a file that is not a socket. */
async function removeStale(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  if (!st.isSocket()) throw new ControlError("in_use", `${path} exists and is not a socket: not removing it`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect({ path });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (alive) throw new ControlError("in_use", `another agent answers on ${path}: is one already running?`);
  await unlink(path);
}
