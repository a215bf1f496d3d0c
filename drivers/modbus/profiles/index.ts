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
