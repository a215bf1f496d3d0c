/** Simulated network devices for a test file, closed after each test. */
import { afterEach } from "vitest";
import { type NetDevice, type NetDeviceOptions, startNetDevice } from "../../scripts/sim/netdevice.js";

export function netDevices(): (opts?: NetDeviceOptions) => Promise<NetDevice> {
  const open: NetDevice[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
  });
  return async (opts = {}) => {
    const d = await startNetDevice(opts);
    open.push(d);
    return d;
  };
}
