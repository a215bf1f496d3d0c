/**
 * The CLI's side of the control socket (server.ts): one request, one answer.
 * Connection failures become ControlError with what a technician should do:
 * `not_running` (no socket, or nobody answers), `permission` (not in the
 * service's group), `timeout`.
 */
import { connect } from "node:net";
import { ControlError, type ControlResponse } from "./protocol.js";

export async function controlRequest(path: string, method: string, params: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
  return new Promise<unknown>((resolve, reject) => {
    const sock = connect({ path });
    let pending = "";
    let done = false;
    const finish = (err: Error | undefined, value?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err !== undefined) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => finish(new ControlError("timeout", `the agent did not answer ${method} within ${timeoutMs} ms (socket ${path})`)), timeoutMs);
    sock.once("connect", () => sock.write(`${JSON.stringify({ id: 1, method, params })}\n`));
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => {
      pending += chunk;
      const nl = pending.indexOf("\n");
      if (nl < 0) return;
      let res: ControlResponse;
      try {
        res = JSON.parse(pending.slice(0, nl)) as ControlResponse;
      } catch {
        finish(new ControlError("protocol", `the agent's answer on ${path} is not JSON`));
        return;
      }
      if (res.ok) finish(undefined, res.result);
      else finish(new ControlError(res.error.code, res.error.message));
    });
    sock.once("error", (e: NodeJS.ErrnoException) => finish(connectError(path, e)));
    sock.once("close", () => finish(new ControlError("not_running", `the agent closed ${path} without answering`)));
  });
}

function connectError(path: string, e: NodeJS.ErrnoException): ControlError {
  switch (e.code) {
    case "ENOENT":
      return new ControlError("not_running", `no control socket at ${path}: is the agent running? (systemctl status campus-agent)`);
    case "ECONNREFUSED":
      return new ControlError("not_running", `nobody answers on ${path}: the agent is not running (the socket was left by one that stopped)`);
    case "EACCES":
    case "EPERM":
      return new ControlError("permission", `permission denied on ${path}: run as root, the service's user, or a member of its group`);
    default:
      return new ControlError("not_running", `cannot connect to ${path}: ${e.code ?? e.message}`);
  }
}
