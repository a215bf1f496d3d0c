import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../agent/log.js";

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
