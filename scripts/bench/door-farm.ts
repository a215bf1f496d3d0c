/**
 * N simulated door controllers in one process, for benchmarks: each its own
 * Modbus TCP server on 127.0.0.1 (a free port) with one unit id (1) following
 * the generic door layout. A separate process, so the agent's CPU is measured
 * apart from the simulators'.
 *
 * Prints `READY {"ports":[…]}`, then takes commands on stdin, one per line:
 *   open <i>    access granted: unlock and open door i
 *   close <i>   close and relock door i
 * and answers each with `CHANGED <i> <time>`, where time is when the
 * registers changed, in epoch milliseconds with sub-millisecond resolution
 * (performance.timeOrigin + performance.now(): comparable across processes
 * of one machine). Stops on SIGTERM or when its parent goes away.
 *
 *   node dist/scripts/bench/door-farm.js --count 200
 */
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { DoorControllerSim } from "../sim/modbus-door.js";
import { type ModbusSim, startModbusSim } from "../sim/modbus-server.js";
import { isMain, untilShutdown } from "../sim/process.js";

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { count: { type: "string", default: "200" } } });
  const sims: ModbusSim[] = [];
  const doors: DoorControllerSim[] = [];
  for (let i = 0; i < Number(values.count); i++) {
    const sim = await startModbusSim({ units: [1] });
    sims.push(sim);
    doors.push(new DoorControllerSim(sim.bank(1), { serial: 500_000 + i, firmware: [3, 1] }));
  }
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const [action, index] = line.trim().split(/\s+/);
    const door = doors[Number(index)];
    if (door === undefined || (action !== "open" && action !== "close")) {
      process.stderr.write(`door-farm: bad command ${JSON.stringify(line)}\n`);
      return;
    }
    door.apply(action);
    process.stdout.write(`CHANGED ${index} ${(performance.timeOrigin + performance.now()).toFixed(3)}\n`);
  });
  process.stdout.write(`READY ${JSON.stringify({ ports: sims.map((s) => s.tcpPort) })}\n`);
  await untilShutdown({ watchParent: true });
  lines.close();
  await Promise.all(sims.map((s) => s.close()));
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
