import { afterEach, describe, expect, it, vi } from "vitest";
import { describeModbusFault, FaultTable, parseFaultArg, parseFaultCycleArg } from "../../scripts/sim/modbus-faults.js";
import { crc16, handlePdu, RegisterBank, rtuFrame } from "../../scripts/sim/modbus-pdu.js";
import { parseScenario } from "../../scripts/sim/modbus-scenario.js";
import { parseDoorSimArgs } from "../../scripts/sim/modbus.js";
import { read, writeCoils, writeRegisters } from "./modbus-helpers.js";

describe("Modbus PDU handling on a raw register bank", () => {
  it("computes CRC-16/MODBUS as published examples show, low byte first on the wire", () => {
    // Widely published request frames: read 1 / 10 holding registers of slave 1 from 0.
    expect(rtuFrame(1, Buffer.from([3, 0, 0, 0, 1])).toString("hex")).toBe("010300000001840a");
    expect(rtuFrame(1, Buffer.from([3, 0, 0, 0, 10])).toString("hex")).toBe("01030000000ac5cd");
    expect(crc16(Buffer.from("123456789"))).toBe(0x4b37);
  });

  it("answers 02 when a read touches an undefined address, even if the rest is defined", () => {
    const bank = new RegisterBank().define("holdingRegisters", 10, [1, 2]);
    expect([...handlePdu(bank, read(3, 10, 2))]).toEqual([3, 4, 0, 1, 0, 2]);
    expect([...handlePdu(bank, read(3, 10, 3))]).toEqual([0x83, 2]);
    expect([...handlePdu(bank, read(3, 65535, 2))]).toEqual([0x83, 2]);
  });

  it("answers 03 for quantities outside the spec's limits before checking addresses", () => {
    const bank = new RegisterBank().define("coils", 0, 0, 2000).define("inputRegisters", 0, 0, 126);
    expect([...handlePdu(bank, read(1, 0, 0))]).toEqual([0x81, 3]);
    expect([...handlePdu(bank, read(1, 0, 2001))]).toEqual([0x81, 3]);
    expect(handlePdu(bank, read(1, 0, 2000))).toHaveLength(2 + 250);
    expect([...handlePdu(bank, read(4, 0, 126))]).toEqual([0x84, 3]);
    expect([...handlePdu(bank, read(4, 60000, 126))]).toEqual([0x84, 3]);
  });

  it("answers 03 for a single-coil value other than 0xFF00 or 0x0000, and for a wrong byte count", () => {
    const bank = new RegisterBank().define("coils", 0, 0, 8).define("holdingRegisters", 0, 0, 4);
    expect([...handlePdu(bank, Buffer.from([5, 0, 0, 0x12, 0x34]))]).toEqual([0x85, 3]);
    const badCount = writeRegisters(0, [1, 2]);
    badCount[5] = 3;
    expect([...handlePdu(bank, badCount)]).toEqual([0x90, 3]);
    const shortCoils = writeCoils(0, [1, 0, 1]).subarray(0, 6);
    expect([...handlePdu(bank, shortCoils)]).toEqual([0x8f, 3]);
  });

  it("answers 01 for a function code it does not implement", () => {
    expect([...handlePdu(new RegisterBank(), Buffer.from([0x2b, 0x0e, 1, 0]))]).toEqual([0xab, 1]);
  });

  it("answers 04 when the model's hook throws while serving a read", () => {
    const bank = new RegisterBank().define("inputRegisters", 0, 7);
    bank.beforeRead = () => {
      throw new Error("model bug");
    };
    expect([...handlePdu(bank, read(4, 0, 1))]).toEqual([0x84, 4]);
  });

  it("refuses register values that do not fit 16 bits and addresses past 65535", () => {
    const bank = new RegisterBank();
    expect(() => bank.define("holdingRegisters", 0, 0x10000)).toThrow(/16 bits/);
    expect(() => bank.define("coils", 65535, 0, 2)).toThrow(/0..65535/);
    expect(() => bank.set("coils", 3, 1)).toThrow(/not defined/);
  });
});

describe("Modbus fault table and argument parsing", () => {
  it("answers busy N times, then normally, and forgets the fault", () => {
    const t = new FaultTable();
    t.set(1, { kind: "busy", times: 2 });
    expect(t.verdict(1, 3, 0, 1)).toEqual({ do: "exception", code: 6 });
    expect(t.verdict(1, 3, 0, 1)).toEqual({ do: "exception", code: 6 });
    expect(t.verdict(1, 3, 0, 1)).toMatchObject({ do: "answer" });
    expect(t.get(1)).toEqual({ kind: "none" });
  });

  it("applies an exception fault only to its function and to ranges overlapping its addresses", () => {
    const t = new FaultTable();
    t.set(1, { kind: "exception", code: 2, fn: 3, from: 10, to: 19 });
    expect(t.verdict(1, 4, 10, 1)).toMatchObject({ do: "answer" });
    expect(t.verdict(1, 3, 0, 10)).toMatchObject({ do: "answer" });
    expect(t.verdict(1, 3, 0, 11)).toEqual({ do: "exception", code: 2 });
    expect(t.verdict(1, 3, 19, 5)).toEqual({ do: "exception", code: 2 });
    expect(t.verdict(1, 3, 20, 1)).toMatchObject({ do: "answer" });
    expect(t.verdict(2, 3, 10, 1)).toMatchObject({ do: "answer" });
  });

  describe("fault cycles", () => {
    afterEach(() => {
      vi.useRealTimers();
    });
    const answers = (t: FaultTable, unit: number) => t.verdict(unit, 3, 0, 1).do;

    it("switches phases at their times and starts over, for its unit only", () => {
      vi.useFakeTimers();
      const t = new FaultTable();
      t.set(1, { cycle: [{ fault: { kind: "none" }, forMs: 40_000 }, { fault: { kind: "no-answer" }, forMs: 20_000 }] });
      expect(answers(t, 1)).toBe("answer");
      vi.advanceTimersByTime(39_999);
      expect(answers(t, 1)).toBe("answer");
      vi.advanceTimersByTime(1);
      expect([answers(t, 1), answers(t, 2)]).toEqual(["silent", "answer"]);
      expect(t.get(1)).toEqual({ kind: "no-answer" });
      vi.advanceTimersByTime(20_000);
      expect(answers(t, 1)).toBe("answer");
      vi.advanceTimersByTime(40_000);
      expect(answers(t, 1)).toBe("silent");
    });

    it("gives a busy phase its full count on every round", () => {
      vi.useFakeTimers();
      const t = new FaultTable();
      t.set(1, { cycle: [{ fault: { kind: "busy", times: 1 }, forMs: 100 }, { fault: { kind: "none" }, forMs: 100 }] });
      expect(answers(t, 1)).toBe("exception");
      expect(answers(t, 1)).toBe("answer");
      vi.advanceTimersByTime(200);
      expect(answers(t, 1)).toBe("exception");
    });

    it("stops when replaced by a plain fault, and on stopCycles, keeping the fault in force", () => {
      vi.useFakeTimers();
      const t = new FaultTable();
      const silentEveryOther = { cycle: [{ fault: { kind: "none" as const }, forMs: 100 }, { fault: { kind: "no-answer" as const }, forMs: 100 }] };
      t.set(1, silentEveryOther);
      t.set(1, { kind: "drop" });
      vi.advanceTimersByTime(1000);
      expect(t.get(1)).toEqual({ kind: "drop" });
      t.set(2, silentEveryOther);
      vi.advanceTimersByTime(100);
      t.stopCycles();
      vi.advanceTimersByTime(1000);
      expect(t.get(2)).toEqual({ kind: "no-answer" });
      expect(vi.getTimerCount()).toBe(0);
    });

    it("refuses an empty cycle, a phase without a positive duration or with a bad fault, and changes nothing then", () => {
      const t = new FaultTable();
      t.set(1, { kind: "crc" });
      expect(() => t.set(1, { cycle: [] })).toThrow(/at least one phase/);
      expect(() => t.set(1, { cycle: [{ fault: { kind: "none" }, forMs: 0 }] })).toThrow(/forMs > 0/);
      expect(() => t.set(1, { cycle: [{ fault: { kind: "none" }, forMs: 10 }, { fault: { kind: "busy", times: 0 }, forMs: 10 }] })).toThrow(/times/);
      expect(t.get(1)).toEqual({ kind: "crc" });
    });

    it("parses unit:kind[:arg]:ms,... and describes the cycle in words", () => {
      const c = parseFaultCycleArg("3:none:40000,no-answer:20000,exception:2:3:0-9:5000");
      expect(c).toEqual({
        unit: 3,
        fault: {
          cycle: [
            { fault: { kind: "none" }, forMs: 40_000 },
            { fault: { kind: "no-answer" }, forMs: 20_000 },
            { fault: { kind: "exception", code: 2, fn: 3, from: 0, to: 9 }, forMs: 5000 },
          ],
        },
      });
      expect(describeModbusFault(c.fault)).toBe("none 40 s, then no-answer 20 s, then exception 5 s");
      expect(() => parseFaultCycleArg("3:no-answer")).toThrow(/phase "no-answer": expected kind\[:arg\]:ms/);
      expect(() => parseFaultCycleArg("3:melt:100")).toThrow(/unknown fault kind "melt"/);
      expect(() => parseFaultCycleArg("x:none:100")).toThrow(/unit id must be an integer/);
    });
  });

  it("parses unit:kind[:arg] fault arguments and rejects bad ones with the reason", () => {
    expect(parseFaultArg("2:no-answer")).toEqual({ unit: 2, fault: { kind: "no-answer" } });
    expect(parseFaultArg("1:exception:0x0b")).toEqual({ unit: 1, fault: { kind: "exception", code: 11 } });
    expect(parseFaultArg("1:exception:2:3:0-9")).toEqual({ unit: 1, fault: { kind: "exception", code: 2, fn: 3, from: 0, to: 9 } });
    expect(parseFaultArg("3:slow:1500")).toEqual({ unit: 3, fault: { kind: "slow", delayMs: 1500 } });
    expect(parseFaultArg("1:busy:3")).toEqual({ unit: 1, fault: { kind: "busy", times: 3 } });
    expect(() => parseFaultArg("1:melt")).toThrow(/unknown fault kind "melt"/);
    expect(() => parseFaultArg("x:drop")).toThrow(/unit id must be an integer/);
    expect(() => parseFaultArg("1:busy:0")).toThrow(/times must be an integer in 1\.\./);
  });

  it("parses the CLI into simulator options, defaulting to one unit on an ephemeral Modbus TCP port", () => {
    expect(parseDoorSimArgs([])).toMatchObject({ sim: { host: "127.0.0.1", tcpPort: 0, units: [1], unknownUnit: "silent" }, faults: [] });
    const a = parseDoorSimArgs(["--units", "1,2,3", "--rtu", "/tmp/x/a", "--baud", "19200", "--rtu-tcp-port", "0", "--fault", "2:no-answer", "--fault", "3:crc", "--tcp-port", "off"]);
    expect(a.sim).toMatchObject({ tcpPort: null, rtuTcpPort: 0, rtu: { path: "/tmp/x/a", baud: 19200 }, units: [1, 2, 3] });
    expect(a.faults).toEqual([{ unit: 2, fault: { kind: "no-answer" } }, { unit: 3, fault: { kind: "crc" } }]);
    const cycled = parseDoorSimArgs(["--units", "1,2", "--fault", "1:crc", "--fault-cycle", "2:none:40000,no-answer:20000"]);
    expect(cycled.faults).toEqual([
      { unit: 1, fault: { kind: "crc" } },
      { unit: 2, fault: { cycle: [{ fault: { kind: "none" }, forMs: 40_000 }, { fault: { kind: "no-answer" }, forMs: 20_000 }] } },
    ]);
    expect(() => parseDoorSimArgs(["--fault-cycle", "2:none"])).toThrow(/--fault-cycle: .*expected kind\[:arg\]:ms/);
    expect(() => parseDoorSimArgs(["--units", "0"])).toThrow(/--units: expected an integer in 1..247/);
    expect(() => parseDoorSimArgs(["--unknown-unit", "gateway"])).toThrow(/--unknown-unit: expected one of silent/);
  });

  it("validates a scenario and lists every problem at once", () => {
    expect(parseScenario([{ at_ms: 10, action: "close" }, { at_ms: 0, action: "open", unit: 2 }]).steps.map((s) => s.action)).toEqual(["open", "close"]);
    expect(() => parseScenario({ steps: [{ at_ms: -1, action: "dance" }, { at_ms: 5, action: "battery_set" }], loop_ms: 2 }))
      .toThrow(/step 0: at_ms.*step 0: action must be one of.*step 1: battery_set needs a value.*loop_ms must be/);
  });
});
