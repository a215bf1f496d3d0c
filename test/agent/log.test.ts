import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, RecentLog } from "../../agent/log.js";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, destination };
}

describe("createLogger", () => {
  it("writes JSON lines and redacts passwords, keys and authorization headers wherever they sit", () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: "info", destination });
    log.info(
      {
        broker: { url: "mqtts://x", password: "hunter2" },
        password: "hunter3",
        tls: { key: "PRIVATE" },
        headers: { authorization: "Digest abc" },
      },
      "connecting",
    );
    expect(lines).toHaveLength(1);
    const line = lines[0] as string;
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(parsed.msg).toBe("connecting");
    for (const secret of ["hunter2", "hunter3", "PRIVATE", "Digest abc"]) expect(line).not.toContain(secret);
    expect(parsed.broker).toEqual({ url: "mqtts://x", password: "[redacted]" });
  });

  it("drops messages below its level", () => {
    const { lines, destination } = capture();
    const log = createLogger({ level: "warn", destination });
    log.info("quiet");
    log.warn("loud");
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(["loud"]);
  });
});

describe("RecentLog", () => {
  it("keeps the last warnings and errors, oldest first, with where they came from and the error's message, and counts the ones it let go", () => {
    const { destination } = capture();
    const recent = new RecentLog(3);
    const log = createLogger({ level: "info", destination, recent });
    log.info("not a problem");
    log.child({ module: "publisher" }).error({ err: new Error("ECONNREFUSED 127.0.0.1:1883") }, "broker unreachable");
    for (const n of [1, 2, 3]) log.child({ device: `door-${n}` }).warn({ state: "offline" }, `timeout ${n}`);
    expect(recent.total).toBe(4);
    expect(recent.entries().map((e) => [e.level, e.device ?? e.module, e.msg])).toEqual([
      ["warn", "door-1", "timeout 1"],
      ["warn", "door-2", "timeout 2"],
      ["warn", "door-3", "timeout 3"],
    ]);
    log.child({ driver: "onvif" }).fatal({ err: new Error("boom") }, "driver crashed");
    const [, , last] = recent.entries();
    expect(last).toMatchObject({ level: "fatal", driver: "onvif", msg: "driver crashed", error: "boom" });
    expect(Date.parse(last?.time ?? "")).toBeGreaterThan(Date.now() - 60_000);
  });

  it("leaves alarms out of the recent errors: they are logged at warn to stand out, not because something failed", () => {
    const { destination } = capture();
    const recent = new RecentLog(5);
    const log = createLogger({ level: "info", destination, recent });
    log.child({ device: "panic-rx-1" }).warn({ alarm: "panic", phase: "alarm", alarm_id: "a-1" }, "panic alarm: zone 15");
    log.child({ device: "door-1" }).warn("timeout");
    expect(recent.entries().map((e) => e.device)).toEqual(["door-1"]);
  });

  it("sees what the log wrote, after redaction, so a secret never reaches it", () => {
    const { lines, destination } = capture();
    const recent = new RecentLog();
    const log = createLogger({ level: "info", destination, recent });
    log.warn({ broker: { password: "hunter2" }, key: "PRIVATE" }, "broker refused us");
    expect(lines).toHaveLength(1);
    expect(JSON.stringify(recent.entries())).not.toMatch(/hunter2|PRIVATE/);
    expect(recent.entries()).toEqual([expect.objectContaining({ level: "warn", msg: "broker refused us" })]);
  });

  it("leaves the log itself as it was: every record at the log's level still goes to its destination", () => {
    const { lines, destination } = capture();
    const recent = new RecentLog();
    const log = createLogger({ level: "debug", destination, recent });
    log.debug("detail");
    log.info("news");
    log.warn("trouble");
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(["detail", "news", "trouble"]);
    expect(recent.entries().map((e) => e.msg)).toEqual(["trouble"]);
  });

  it("keeps each text to one clipped line, whatever a device sent", () => {
    const recent = new RecentLog();
    const log = createLogger({ level: "info", destination: capture().destination, recent });
    log.warn(`line one\nline two ${"x".repeat(1000)}`);
    const [entry] = recent.entries();
    expect(entry?.msg).toMatch(/^line one line two x+…$/);
    expect(entry?.msg.length).toBe(300);
  });
});
