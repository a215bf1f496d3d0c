/**
 * One contract, every implementation: the memory outbox and the SQLite outbox
 * (with telemetry left in its memory buffer, committed in small batches, and
 * committed one by one, since take() reads both places) must behave alike.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Clock } from "../../agent/clock.js";
import { MemoryOutbox } from "../../agent/outbox/memory.js";
import { SqliteOutbox } from "../../agent/outbox/sqlite.js";
import { MESSAGE_CLASSES, type MessageClass, type NewMessage, type Outbox } from "../../agent/outbox/types.js";

interface Harness {
  outbox: Outbox;
  clock: Clock & { set(ms: number): void };
  logs: { level: number; msg: string }[];
}

type Factory = (opts: { maxSizeBytes: number; clock: Clock; log: pino.Logger }) => Outbox;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function sqliteFactory(batchSize: number): Factory {
  return ({ maxSizeBytes, clock, log }) => {
    const dir = mkdtempSync(join(tmpdir(), "outbox-contract-"));
    const outbox = SqliteOutbox.open({ path: join(dir, "outbox.db"), maxSizeBytes, flushIntervalMs: 60_000, batchSize, clock, log });
    cleanups.push(() => {
      outbox.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return outbox;
  };
}

/** A message whose payload is its tag: 3 bytes of topic ("t/" + one-letter stream) plus the tag. */
function msg(stream: string, klass: MessageClass, tag: string): NewMessage {
  return { stream, klass, topic: `t/${stream}`, retain: false, render: () => tag };
}

const tags = (messages: readonly { payload: string }[]) => messages.map((m) => m.payload);

function outboxContract(name: string, factory: Factory): void {
  describe(`Outbox contract: ${name}`, () => {
    function setup(maxSizeBytes = 1024 * 1024): Harness {
      let now = 1_000;
      const clock = {
        now: () => now,
        monotonic: () => now,
        set: (ms: number) => {
          now = ms;
        },
      };
      const logs: Harness["logs"] = [];
      const log = pino(
        { level: "debug" },
        {
          write: (line: string) => {
            logs.push(JSON.parse(line));
          },
        },
      );
      return { outbox: factory({ maxSizeBytes, clock, log }), clock, logs };
    }

    it("numbers each stream's messages from 1, one more per message whatever its class", () => {
      const { outbox } = setup();
      const seqs = (["telemetry", "event", "alarm", "telemetry"] as const).map((k) => outbox.enqueue(msg("a", k, "x")).seq);
      expect(seqs).toEqual([1, 2, 3, 4]);
      expect(outbox.enqueue(msg("b", "event", "x")).seq).toBe(1);
      expect(outbox.enqueue(msg("a", "event", "x")).seq).toBe(5);
    });

    it("renders the payload with the stream's sequence number and stores what was rendered", () => {
      const { outbox } = setup();
      outbox.enqueue(msg("a", "event", "first"));
      outbox.enqueue({ stream: "a", klass: "telemetry", topic: "t/a", retain: true, render: (seq) => `seq=${seq}` });
      const [, second] = outbox.take(10);
      expect(second).toMatchObject({
        stream: "a",
        klass: "telemetry",
        seq: 2,
        topic: "t/a",
        payload: "seq=2",
        retain: true,
        createdAt: 1_000,
      });
    });

    it("hands out alarms, then events, then telemetry, whatever order they arrived in", () => {
      const { outbox } = setup();
      for (const [k, tag] of [
        ["telemetry", "t1"],
        ["event", "e1"],
        ["alarm", "a1"],
        ["telemetry", "t2"],
        ["event", "e2"],
        ["alarm", "a2"],
      ] as const) {
        outbox.enqueue(msg("s", k, tag));
      }
      expect(tags(outbox.take(10))).toEqual(["a1", "a2", "e1", "e2", "t1", "t2"]);
    });

    it.each(MESSAGE_CLASSES)("hands out %s oldest first, across streams, and never the same message twice while in flight", (klass) => {
      const { outbox } = setup();
      for (const [stream, tag] of [
        ["a", "1"],
        ["b", "2"],
        ["a", "3"],
        ["c", "4"],
        ["b", "5"],
      ])
        outbox.enqueue(msg(stream, klass, tag));
      expect(tags(outbox.take(2))).toEqual(["1", "2"]);
      expect(tags(outbox.take(2))).toEqual(["3", "4"]);
      expect(tags(outbox.take(10))).toEqual(["5"]);
      expect(outbox.take(10)).toEqual([]);
      expect(outbox.take(0)).toEqual([]);
      expect(outbox.stats().inFlight).toBe(5);
    });

    it.each(MESSAGE_CLASSES)("passes over skipped streams' %s and keeps them, in order, for a later take", (klass) => {
      const { outbox } = setup();
      for (const [stream, tag] of [
        ["a", "a1"],
        ["b", "b1"],
        ["a", "a2"],
        ["b", "b2"],
        ["c", "c1"],
      ]) {
        outbox.enqueue(msg(stream, klass, tag));
      }
      expect(tags(outbox.take(1, new Set(["a"])))).toEqual(["b1"]);
      expect(tags(outbox.take(10, new Set(["a", "c"])))).toEqual(["b2"]);
      expect(tags(outbox.take(10))).toEqual(["a1", "a2", "c1"]);
    });

    it.each(MESSAGE_CLASSES)("hands released %s out again in their original order, before newer ones", (klass) => {
      const { outbox } = setup();
      for (const tag of ["1", "2", "3", "4", "5"]) outbox.enqueue(msg("s", klass, tag));
      const first = outbox.take(3);
      expect(tags(first)).toEqual(["1", "2", "3"]);
      outbox.release([first[2].id, first[0].id]);
      outbox.enqueue(msg("s", klass, "6"));
      expect(outbox.stats().inFlight).toBe(1);
      expect(tags(outbox.take(10))).toEqual(["1", "3", "4", "5", "6"]);
    });

    it("hands a released message out again even after later takes skipped its stream", () => {
      const { outbox } = setup();
      for (const [stream, tag] of [
        ["a", "a1"],
        ["b", "b1"],
        ["a", "a2"],
        ["b", "b2"],
      ])
        outbox.enqueue(msg(stream, "event", tag));
      const a1 = outbox.take(1)[0];
      expect(tags(outbox.take(1, new Set(["b"])))).toEqual(["a2"]);
      outbox.release([a1.id]);
      expect(tags(outbox.take(10))).toEqual(["a1", "b1", "b2"]);
    });

    it("puts every in-flight message back on releaseAll, and hands them out again in priority order", () => {
      const { outbox } = setup();
      outbox.enqueue(msg("s", "telemetry", "t1"));
      outbox.enqueue(msg("s", "event", "e1"));
      outbox.enqueue(msg("s", "alarm", "a1"));
      expect(outbox.take(10)).toHaveLength(3);
      outbox.releaseAll();
      expect(outbox.stats().inFlight).toBe(0);
      expect(tags(outbox.take(10))).toEqual(["a1", "e1", "t1"]);
    });

    it("deletes acked messages: they are neither handed out nor listed again", () => {
      const { outbox } = setup();
      for (const k of MESSAGE_CLASSES) outbox.enqueue(msg("s", k, k));
      outbox.enqueue(msg("s", "telemetry", "t2"));
      const taken = outbox.take(3);
      outbox.ack(taken.map((m) => m.id));
      outbox.releaseAll();
      expect(tags(outbox.peek(10))).toEqual(["t2"]);
      expect(tags(outbox.take(10))).toEqual(["t2"]);
      expect(outbox.stats()).toMatchObject({ depth: { alarm: 0, event: 0, telemetry: 1 }, bytes: 5, inFlight: 1 });
    });

    it("lists waiting messages by class then age with peek, without putting them in flight", () => {
      const { outbox } = setup();
      outbox.enqueue(msg("s", "telemetry", "t1"));
      outbox.enqueue(msg("s", "event", "e1"));
      outbox.enqueue(msg("s", "alarm", "a1"));
      outbox.take(1);
      expect(tags(outbox.peek(10))).toEqual(["a1", "e1", "t1"]);
      expect(tags(outbox.peek(2))).toEqual(["a1", "e1"]);
      expect(outbox.stats().inFlight).toBe(1);
    });

    it("reports depth per class (in flight included), UTF-8 bytes, the oldest createdAt and the in-flight count", () => {
      const { outbox, clock } = setup();
      expect(outbox.stats()).toEqual({
        depth: { alarm: 0, event: 0, telemetry: 0 },
        bytes: 0,
        oldestCreatedAt: null,
        dropped: { alarm: 0, event: 0, telemetry: 0 },
        inFlight: 0,
      });
      clock.set(5_000);
      outbox.enqueue(msg("s", "telemetry", "é")); // 3 + 2 bytes
      clock.set(6_000);
      outbox.enqueue(msg("s", "event", "e1"));
      outbox.enqueue(msg("s", "alarm", "a1"));
      outbox.take(1);
      expect(outbox.stats()).toEqual({
        depth: { alarm: 1, event: 1, telemetry: 1 },
        bytes: 15,
        oldestCreatedAt: 5_000,
        dropped: { alarm: 0, event: 0, telemetry: 0 },
        inFlight: 1,
      });
      outbox.ack(outbox.take(10).map((m) => m.id));
      expect(outbox.stats()).toMatchObject({ depth: { alarm: 1, event: 0, telemetry: 0 }, oldestCreatedAt: 6_000, bytes: 5 });
    });

    it("drops the oldest telemetry first when over the size cap, and counts the drops", () => {
      const { outbox, logs } = setup(50); // five 10-byte messages fit
      for (const tag of ["tel0001", "tel0002", "tel0003", "tel0004", "tel0005"]) outbox.enqueue(msg("s", "telemetry", tag));
      expect(outbox.stats().dropped.telemetry).toBe(0);
      outbox.enqueue(msg("s", "telemetry", "tel0006"));
      outbox.enqueue(msg("s", "event", "evt0001"));
      expect(tags(outbox.peek(10))).toEqual(["evt0001", "tel0003", "tel0004", "tel0005", "tel0006"]);
      expect(tags(outbox.take(10))).toEqual(["evt0001", "tel0003", "tel0004", "tel0005", "tel0006"]);
      expect(outbox.stats()).toMatchObject({ bytes: 50, depth: { event: 1, telemetry: 4 }, dropped: { alarm: 0, event: 0, telemetry: 2 } });
      expect(logs.filter((l) => l.msg.includes("size cap"))).toHaveLength(1);
    });

    it("never drops telemetry that is in flight", () => {
      const { outbox } = setup(30);
      for (const tag of ["tel0001", "tel0002", "tel0003"]) outbox.enqueue(msg("s", "telemetry", tag));
      const inFlight = outbox.take(1)[0];
      outbox.enqueue(msg("s", "telemetry", "tel0004"));
      expect(tags(outbox.peek(10))).toEqual(["tel0001", "tel0003", "tel0004"]);
      outbox.release([inFlight.id]);
      outbox.enqueue(msg("s", "telemetry", "tel0005"));
      expect(tags(outbox.peek(10))).toEqual(["tel0003", "tel0004", "tel0005"]);
      expect(outbox.stats().dropped.telemetry).toBe(2);
    });

    it("never drops alarms or events, even when they alone exceed the cap, and warns once", () => {
      const { outbox, logs } = setup(25);
      outbox.enqueue(msg("s", "alarm", "alm0001"));
      outbox.enqueue(msg("s", "event", "evt0001"));
      outbox.enqueue(msg("s", "event", "evt0002"));
      outbox.enqueue(msg("s", "telemetry", "tel0001"));
      outbox.enqueue(msg("s", "event", "evt0003"));
      expect(tags(outbox.peek(10))).toEqual(["alm0001", "evt0001", "evt0002", "evt0003"]);
      expect(outbox.stats()).toMatchObject({ bytes: 40, dropped: { alarm: 0, event: 0, telemetry: 1 } });
      expect(logs.filter((l) => l.msg.includes("only alarms, events"))).toHaveLength(1);
    });

    it("tells onEnqueue listeners the class of each new message until they unsubscribe", () => {
      const { outbox } = setup();
      const heard: MessageClass[] = [];
      const stop = outbox.onEnqueue((klass) => {
        // Synchronous: the message is already there to take.
        expect(outbox.stats().depth[klass]).toBeGreaterThan(0);
        heard.push(klass);
      });
      outbox.enqueue(msg("s", "alarm", "a"));
      outbox.enqueue(msg("s", "telemetry", "t"));
      stop();
      outbox.enqueue(msg("s", "event", "e"));
      expect(heard).toEqual(["alarm", "telemetry"]);
    });

    it("stores the message and reaches other listeners when a listener throws, and logs the error", () => {
      const { outbox, logs } = setup();
      const heard: MessageClass[] = [];
      outbox.onEnqueue(() => {
        throw new Error("listener bug");
      });
      outbox.onEnqueue((klass) => heard.push(klass));
      expect(outbox.enqueue(msg("s", "alarm", "a")).seq).toBe(1);
      expect(heard).toEqual(["alarm"]);
      expect(tags(outbox.take(10))).toEqual(["a"]);
      expect(logs.some((l) => l.level >= 50 && l.msg.includes("listener"))).toBe(true);
    });

    it("rejects an unknown class without storing anything or using a sequence number", () => {
      const { outbox } = setup();
      expect(() => outbox.enqueue(msg("s", "bogus" as MessageClass, "x"))).toThrow(/unknown message class/);
      expect(outbox.enqueue(msg("s", "event", "x")).seq).toBe(1);
      expect(outbox.stats().depth.event).toBe(1);
    });

    it("hands out only the classes asked for, leaving the others for a later take", () => {
      const { outbox } = setup();
      outbox.enqueue(msg("s", "telemetry", "t1"));
      outbox.enqueue(msg("s", "event", "e1"));
      outbox.enqueue(msg("a", "alarm", "a1"));
      outbox.enqueue(msg("a", "alarm", "a2"));
      expect(tags(outbox.take(10, undefined, ["alarm"]))).toEqual(["a1", "a2"]);
      expect(tags(outbox.take(10, undefined, ["alarm"]))).toEqual([]);
      expect(tags(outbox.take(10))).toEqual(["e1", "t1"]);
    });

    it("stores several messages and a memory entry together, numbering each stream in order", () => {
      const { outbox } = setup();
      outbox.enqueue(msg("d", "telemetry", "t1"));
      const { seqs } = outbox.enqueueWithMemory([msg("d", "event", "opened"), msg("d", "event", "forced"), msg("e", "alarm", "panic")], {
        key: "door:d",
        value: '{"door":"open"}',
      });
      expect(seqs).toEqual([2, 3, 1]);
      expect(outbox.readMemory("door:d")).toBe('{"door":"open"}');
      expect(tags(outbox.take(10))).toEqual(["panic", "opened", "forced", "t1"]);
    });

    it("replaces a memory entry on the next call and deletes it with a null value", () => {
      const { outbox } = setup();
      outbox.enqueueWithMemory([], { key: "k", value: "1" });
      outbox.enqueueWithMemory([msg("d", "event", "x")], { key: "k", value: "2" });
      expect(outbox.readMemory("k")).toBe("2");
      outbox.enqueueWithMemory([], { key: "k", value: null });
      expect(outbox.readMemory("k")).toBeUndefined();
      expect(outbox.readMemory("never-set")).toBeUndefined();
    });

    it("tells onEnqueue listeners about every message stored with memory", () => {
      const { outbox } = setup();
      const seen: MessageClass[] = [];
      outbox.onEnqueue((k) => seen.push(k));
      outbox.enqueueWithMemory([msg("d", "event", "a"), msg("d", "alarm", "b")], { key: "k", value: "v" });
      expect(seen).toEqual(["event", "alarm"]);
    });

    it("numbers what a batch enqueues as if enqueued one by one, and hands it out in priority order once the batch ends", () => {
      const { outbox } = setup();
      outbox.enqueue(msg("d", "telemetry", "t0"));
      const seqs = outbox.batch(() => [
        outbox.enqueue(msg("d", "telemetry", "t1")).seq,
        outbox.enqueue(msg("d", "event", "e1")).seq,
        ...outbox.enqueueWithMemory([msg("d", "event", "e2"), msg("p", "alarm", "a1")], { key: "k", value: "v" }).seqs,
        outbox.enqueue(msg("d", "telemetry", "t2")).seq,
      ]);
      expect(seqs).toEqual([2, 3, 4, 1, 5]);
      expect(outbox.readMemory("k")).toBe("v");
      expect(tags(outbox.take(10))).toEqual(["a1", "e1", "e2", "t0", "t1", "t2"]);
      expect(outbox.enqueue(msg("d", "event", "e3")).seq).toBe(6);
      expect(outbox.stats().depth).toEqual({ alarm: 1, event: 3, telemetry: 3 });
    });

    it("tells onEnqueue listeners about a batch's messages once it ends, and lets readMemory see its memory entries", () => {
      const { outbox } = setup();
      const seen: MessageClass[] = [];
      outbox.onEnqueue((k) => seen.push(k));
      outbox.enqueueWithMemory([], { key: "k", value: "before" });
      outbox.batch(() => {
        outbox.enqueue(msg("d", "event", "e1"));
        outbox.enqueueWithMemory([msg("d", "alarm", "a1")], { key: "k", value: "inside" });
        expect(outbox.readMemory("k")).toBe("inside");
        // A batch inside a batch joins it.
        outbox.batch(() => outbox.enqueue(msg("d", "telemetry", "t1")));
        expect(seen).toEqual([]);
      });
      expect(seen).toEqual(["event", "alarm", "telemetry"]);
      expect(outbox.readMemory("k")).toBe("inside");
    });

    it("stores what a batch enqueued before its work threw, and rethrows", () => {
      const { outbox } = setup();
      expect(() =>
        outbox.batch(() => {
          outbox.enqueue(msg("d", "event", "e1"));
          throw new Error("boom");
        }),
      ).toThrow("boom");
      expect(tags(outbox.take(10))).toEqual(["e1"]);
      expect(outbox.enqueue(msg("d", "event", "e2")).seq).toBe(2);
    });

    it("closes idempotently, and then refuses every call with a clear error", () => {
      const { outbox } = setup();
      outbox.enqueue(msg("s", "event", "x"));
      outbox.close();
      outbox.close();
      expect(() => outbox.enqueue(msg("s", "event", "y"))).toThrow("outbox is closed");
      expect(() => outbox.take(1)).toThrow("outbox is closed");
      expect(() => outbox.stats()).toThrow("outbox is closed");
      expect(() => outbox.flush()).toThrow("outbox is closed");
      expect(() => outbox.readMemory("k")).toThrow("outbox is closed");
      expect(() => outbox.enqueueWithMemory([], { key: "k", value: "v" })).toThrow("outbox is closed");
      expect(() => outbox.batch(() => 1)).toThrow("outbox is closed");
    });
  });
}

outboxContract("MemoryOutbox", ({ maxSizeBytes, clock, log }) => new MemoryOutbox({ maxSizeBytes, clock, log }));
outboxContract("SqliteOutbox, telemetry buffered", sqliteFactory(1_000));
outboxContract("SqliteOutbox, telemetry committed in batches of 3", sqliteFactory(3));
outboxContract("SqliteOutbox, telemetry committed one by one", sqliteFactory(1));
