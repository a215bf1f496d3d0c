/**
 * Debian's mosquitto, started by a test on a free loopback port, with
 * optional TLS (a CA generated per run), password auth and an ACL. The port
 * is kept across stop()/start() so clients can reconnect to the same URL.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { freePort } from "../../helpers/net.js";

export interface MosquittoOptions {
  tls?: boolean;
  /** user -> password; when given, anonymous access is off. */
  users?: Record<string, string>;
  /** ACL file body (mosquitto acl_file syntax). */
  acl?: string;
}

export interface Mosquitto {
  port: number;
  url: string;
  dir: string;
  caFile: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** stop, and remove the temp dir */
  dispose(): Promise<void>;
  log(): string;
}

export function generateCa(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  run([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=Test District CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
  ]);
  run(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"]);
  writeFileSync(join(dir, "san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  run([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    "2",
    "-extfile",
    "san.ext",
  ]);
  return { caFile: join(dir, "ca.crt"), certFile: join(dir, "server.crt"), keyFile: join(dir, "server.key") };
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), "mosq-"));
  const port = await freePort();
  // Run as root, mosquitto drops to user "mosquitto", who cannot read our 0700 temp dir.
  const lines = [
    `user ${userInfo().username}`,
    `listener ${port} 127.0.0.1`,
    "persistence true",
    `persistence_location ${dir}/`,
    "log_dest stderr",
    "max_queued_messages 0",
    "log_type error",
    "log_type warning",
    "log_type notice",
  ];
  let caFile: string | undefined;
  if (opts.tls) {
    const ca = generateCa(dir);
    caFile = ca.caFile;
    lines.push(`cafile ${ca.caFile}`, `certfile ${ca.certFile}`, `keyfile ${ca.keyFile}`);
  }
  if (opts.users) {
    const pw = join(dir, "passwd");
    writeFileSync(pw, "");
    for (const [user, password] of Object.entries(opts.users))
      execFileSync("mosquitto_passwd", ["-b", pw, user, password], { stdio: "pipe" });
    lines.push("allow_anonymous false", `password_file ${pw}`);
  } else {
    lines.push("allow_anonymous true");
  }
  if (opts.acl) {
    writeFileSync(join(dir, "acl"), opts.acl);
    lines.push(`acl_file ${join(dir, "acl")}`);
  }
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(conf, `${lines.join("\n")}\n`);
  let child: ChildProcess | null = null;
  let output = "";

  const m: Mosquitto = {
    port,
    url: `${opts.tls ? "mqtts" : "mqtt"}://${opts.tls ? "localhost" : "127.0.0.1"}:${port}`,
    dir,
    caFile,
    log: () => output,
    async start() {
      const c = spawn("mosquitto", ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
      child = c;
      c.stdout?.on("data", (d: Buffer) => {
        output += d.toString();
      });
      c.stderr?.on("data", (d: Buffer) => {
        output += d.toString();
      });
      await waitListening(port, c, () => output);
    },
    async stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once("exit", () => resolve());
        c.kill("SIGTERM");
      });
    },
    async dispose() {
      await m.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await m.start();
  return m;
}

async function waitListening(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}): ${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`mosquitto did not listen on ${port}: ${output()}`);
}
