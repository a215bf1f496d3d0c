/**
 * Process plumbing shared by the simulators: "am I the entry file?", "when
 * must I stop?" and "listen on this port". Node builtins only.
 */
import { fstatSync, realpathSync } from "node:fs";
import type { AddressInfo, Server } from "node:net";
import { fileURLToPath } from "node:url";

/** True when the module at moduleUrl is the file node was started with. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    // realpath: npm bin links and symlinked checkouts start us through another path.
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

export interface ShutdownOptions {
  /**
   * Also stop when the parent goes away. Two signals, because either alone
   * misses a case: stdin reaching end-of-file (the parent spawned us with a
   * stdin pipe and died, even by SIGKILL, closing it) and our parent pid
   * changing (re-parented to init/a subreaper when stdin is not a pipe).
   */
  watchParent: boolean;
}

const PARENT_CHECK_MS = 1000;

/** Resolves with why we are stopping: a signal, or the parent's death. */
export function untilShutdown(opts: ShutdownOptions): Promise<string> {
  return new Promise((resolve) => {
    const parent = process.ppid;
    // Also keeps the event loop alive while every simulated device refuses
    // connections (no listening socket left to do it).
    const timer = setInterval(() => {
      if (opts.watchParent && process.ppid !== parent) done("parent exited");
    }, PARENT_CHECK_MS);
    const onTerm = () => done("SIGTERM");
    const onInt = () => done("SIGINT");
    const onEnd = () => done("stdin closed");
    const watchStdin = opts.watchParent && stdinIsPipe();
    function done(why: string) {
      clearInterval(timer);
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
      if (watchStdin) {
        process.stdin.off("end", onEnd);
        process.stdin.off("error", onEnd);
        process.stdin.destroy();
      }
      resolve(why);
    }
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
    if (watchStdin) {
      // Whatever the parent writes is ignored; only end-of-file matters.
      process.stdin.on("data", () => {});
      process.stdin.on("end", onEnd);
      // A broken pipe means the same as end-of-file: nobody holds the other end.
      process.stdin.on("error", onEnd);
      process.stdin.resume();
    }
  });
}

/**
 * Only a pipe or socket on stdin means a parent holds the other end. /dev/null
 * would read end-of-file at once, and a terminal ends only on Ctrl-D.
 */
function stdinIsPipe(): boolean {
  try {
    const st = fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

/** Listen, resolving with the bound port (port 0 picks a free one), or rejecting with the listen error. */
export function listenOn(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
