/**
 * Built-in profiles, by name. Validated when first asked for (a broken
 * built-in is a bug: the tests parse every one).
 */
import { type Profile, profileSchema } from "../profile.js";
import { genericDoor } from "./generic-door.js";
import { io8di } from "./io-8di.js";
import { vendorDoorController } from "./vendor-dc.js";

const SOURCES = [genericDoor, vendorDoorController, io8di];

export const BUILTIN_PROFILE_NAMES: readonly string[] = SOURCES.map((p) => p.name);

const parsed = new Map<string, Profile>();

export function builtinProfile(name: string): Profile | undefined {
  const cached = parsed.get(name);
  if (cached !== undefined) return cached;
  const src = SOURCES.find((p) => p.name === name);
  if (src === undefined) return undefined;
  const p = profileSchema.parse(src);
  parsed.set(name, p);
  return p;
}

/**
 * The message for a profile name that is neither built-in nor among
 * `userNames` (those under the config's modbus_profiles): every name a device
 * may use instead.
 */
export function unknownProfileMessage(name: string, userNames: readonly string[]): string {
  const builtin = `${BUILTIN_PROFILE_NAMES.join(", ")} (built-in)`;
  const yours = userNames.length > 0 ? `${userNames.join(", ")} (modbus_profiles) or ${builtin}` : `${builtin}, one of your own under modbus_profiles`;
  return `unknown profile ${JSON.stringify(name)}: expected one of ${yours}, or a profile inline`;
}
