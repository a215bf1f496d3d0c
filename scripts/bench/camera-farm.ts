/**
 * N simulated ONVIF cameras in one process, on 127.0.0.1 with free ports, for
 * benchmarks: prints `READY {"ports":[…]}` and stops on SIGTERM or when its
 * parent goes away. A separate process, so the agent's CPU is measured apart.
 *
 *   node dist/scripts/bench/camera-farm.js --count 200 --username u --password p
 */
import { parseArgs } from "node:util";
import { type SimCamera, startCamera } from "../sim/camera.js";
import { isMain, untilShutdown } from "../sim/process.js";

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { count: { type: "string", default: "200" }, username: { type: "string", default: "bench" }, password: { type: "string", default: "bench-pass" } },
  });
  const cams: SimCamera[] = [];
  for (let i = 0; i < Number(values.count); i++) {
    cams.push(await startCamera({ username: values.username, password: values.password, serialNumber: `BENCH${String(i).padStart(5, "0")}` }));
  }
  process.stdout.write(`READY ${JSON.stringify({ ports: cams.map((c) => c.port) })}\n`);
  await untilShutdown({ watchParent: true });
  await Promise.all(cams.map((c) => c.close()));
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
