/**
 * A simulated RS-485 line: a socat PTY pair standing in for the cable between
 * the gateway's USB RS-485 adapter and the door controllers on the bus. The
 * simulator serves Modbus RTU on one end; the agent opens the other, by path,
 * exactly as it would open /dev/ttyUSB0:
 *
 *   socat -d -d pty,raw,echo=0,link=<name>.sim pty,raw,echo=0,link=<name>
 *
 * run in the line's folder, so the links are <dir>/<name> (the agent's end)
 * and <dir>/<name>.sim (the simulator's end). socat is started with relative
 * link names and the folder as its working directory: a folder path with a
 * comma or a colon would otherwise break socat's address syntax. PTYs take no
 * parity setting, so the line is 8N1. socat removes both links when it stops.
 *
 * Node builtins only.
 */
import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";

export interface SerialLine {
  /** The agent's end: what its device config's `path` names. */
  path: string;
  /** The simulator's end. */
  simPath: string;
  /** Stop socat (which removes the links); idempotent. */
  close(): Promise<void>;
}

export interface SerialLineOptions {
  /** The socat command; default "socat", found on the PATH. */
  socat?: string;
  /** How long socat may take to open both PTYs. Default 5000 ms. */
  readyTimeoutMs?: number;
}

/** socat is not installed: the line cannot be simulated (the caller decides what that means). */
export class SocatMissingError extends Error {}

/** What socat -d -d logs once both PTYs are open and their links made. */
const SOCAT_READY = "starting data transfer loop";

/** Line names become file names and socat arguments: keep them plain. */
const LINE_NAME = /^[A-Za-z0-9_-]+$/;

export function startSerialLine(dir: string, name: string, opts: SerialLineOptions = {}): Promise<SerialLine> {
  if (!LINE_NAME.test(name)) return Promise.reject(new Error(`serial line name "${name}": letters, digits, - and _ only`));
  // A missing working directory makes spawn fail with ENOENT too, which would read as "socat missing".
  try {
    if (!statSync(dir).isDirectory()) return Promise.reject(new Error(`${dir} is not a directory`));
  } catch (e) {
    return Promise.reject(new Error(`serial line folder ${dir}: ${(e as Error).message}`, { cause: e }));
  }
  const socat = opts.socat ?? "socat";
  const child = spawn(socat, ["-d", "-d", `pty,raw,echo=0,link=${name}.sim`, `pty,raw,echo=0,link=${name}`], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    // Spawn failures emit "error" and no "exit".
    child.once("error", () => resolve());
  });
  // If the campus exits without closing the line (an uncaught error), socat must not outlive it.
  const killOnExit = () => child.kill("SIGTERM");
  process.once("exit", killOnExit);
  let closing: Promise<void> | undefined;
  const line: SerialLine = {
    path: join(dir, name),
    simPath: join(dir, `${name}.sim`),
    close() {
      closing ??= (async () => {
        process.off("exit", killOnExit);
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill("SIGTERM");
        await exited;
      })();
      return closing;
    },
  };
  return new Promise((resolve, reject) => {
    let log = "";
    const fail = (err: Error) => {
      clearTimeout(timer);
      void line.close();
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new Error(`socat did not open its PTY pair within ${opts.readyTimeoutMs ?? 5000} ms: ${log.trim()}`)),
      opts.readyTimeoutMs ?? 5000,
    );
    child.once("error", (e: NodeJS.ErrnoException) => {
      fail(e.code === "ENOENT" ? new SocatMissingError(`${socat} not found`, { cause: e }) : e);
    });
    child.once("exit", (code, signal) => fail(new Error(`socat exited (${signal ?? `code ${code}`}): ${log.trim()}`)));
    child.stderr.on("data", (c: Buffer) => {
      // Only the start-up lines matter; later ones (errors at the end) are kept short.
      if (log.length < 4096) log += c.toString();
      if (log.includes(SOCAT_READY)) {
        clearTimeout(timer);
        resolve(line);
      }
    });
  });
}
