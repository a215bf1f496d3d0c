/**
 * Test helpers for the simulators: a self-signed certificate made with the
 * openssl CLI, curl as an independent HTTP client, and the simulator sources
 * compiled to runnable JavaScript so their CLIs can be started as processes.
 */
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const repo = fileURLToPath(new URL("../../", import.meta.url));

export interface CurlResult {
  /** curl's exit code: 0 ok, 1 not HTTP, 7 could not connect, 28 timed out, 52/56 no or cut answer. */
  exitCode: number;
  status: number;
  headers: string;
  body: string;
  sizeDownload: number;
  timeTotalMs: number;
}

const MARK = "\n--curl-write-out--";

export function curl(url: string, args: string[] = []): Promise<CurlResult> {
  const argv = ["-sS", "-D", "-", "-o", "-", "-w", `${MARK}%{http_code} %{size_download} %{time_total}`, ...args, url];
  return new Promise((resolve) => {
    execFile("curl", argv, { maxBuffer: 64 * 1024 * 1024, encoding: "latin1" }, (err, stdout) => {
      const at = stdout.lastIndexOf(MARK);
      const [code = "0", size = "0", time = "0"] = stdout.slice(at + MARK.length).split(" ");
      const response = stdout.slice(0, at);
      const split = response.indexOf("\r\n\r\n");
      resolve({
        exitCode: err ? Number((err as { code?: unknown }).code ?? -1) : 0,
        status: Number(code),
        headers: split < 0 ? response : response.slice(0, split),
        body: split < 0 ? "" : response.slice(split + 4),
        sizeDownload: Number(size),
        timeTotalMs: Number(time) * 1000,
      });
    });
  });
}

/**
 * Compile scripts/sim/*.ts to JavaScript in a temporary folder (no type
 * checking: tsc does that). The simulators use node builtins only, so the
 * output runs anywhere; this is what `npm run build` puts in dist/.
 */
export function compileSimulators(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "sim-build-"));
  const src = join(repo, "scripts/sim");
  for (const name of readdirSync(src).filter((f) => f.endsWith(".ts"))) {
    const out = ts.transpileModule(readFileSync(join(src, name), "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: name,
    });
    const dest = join(dir, "scripts/sim", name.replace(/\.ts$/, ".js"));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, out.outputText);
  }
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Started {
  child: import("node:child_process").ChildProcessWithoutNullStreams;
  /** The READY line, without its newline. */
  ready: string;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `node file args` with piped stdio (and `env` over the environment) and resolve once it prints its READY line. */
export function startUntilReady(file: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const child = spawn(process.execPath, [file, ...args], { stdio: "pipe", env: { ...process.env, ...env } });
  let out = "";
  let err = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  child.stderr.on("data", (c: Buffer) => {
    err += c.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.startsWith("READY"));
      if (line !== undefined) resolve({ child, ready: line, stdout: () => out, stderr: () => err, exited });
    });
    void exited.then(({ code }) => reject(new Error(`exited with ${code} before READY; stderr: ${err}`)));
  });
}
