/** Every device kind the agent knows, in one list. Adding a kind touches drivers/ and this line. */
import type { DriverFactory } from "./contract.js";
import { modbusDoorDriver } from "./modbus/index.js";
import { onvifDriver } from "./onvif/index.js";
import { panicContactsDriver } from "./panic-contacts/index.js";
import { panicDc09Driver } from "./panic-dc09/index.js";
import { reachabilityDriver } from "./reachability/index.js";

export const DRIVERS: readonly DriverFactory[] = [reachabilityDriver, onvifDriver, modbusDoorDriver, panicContactsDriver, panicDc09Driver];
