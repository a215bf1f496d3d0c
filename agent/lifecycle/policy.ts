/**
 * The lifecycle policy file (docs/lifecycle.md, config/policy.example.yaml):
 * approved firmware baselines and end-of-support dates per manufacturer and
 * model, and the limits on clock drift and time since a device was last seen.
 *
 * Checked like the config (config/load.ts's checkYaml): every problem at
 * once, each with its path and line, unknown keys refused. On top of the
 * schema: versions must be versions, dates real dates, a rule's minimum must
 * not be blocked by the rule itself, and no two rules may name the same
 * manufacturer and model. A loaded Policy holds parsed versions and model
 * matchers, ready for evaluate().
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { ConfigError, checkYaml, type LoadedConfig, readYamlFile } from "../../config/load.js";
import { isIsoDate } from "../../config/dates.js";
import { CATEGORIES } from "../../config/schema.js";
import { compareToBound, matchesSpec, parseVersion, parseVersionSpec, type Version, type VersionSpec } from "./version.js";

/** An invalid policy file: every problem, like a ConfigError (formatProblems() reports it as "Invalid lifecycle policy in …"). */
export class PolicyError extends ConfigError {
  override readonly name = "PolicyError";
  override readonly subject = "lifecycle policy";
}

export type Category = (typeof CATEGORIES)[number];
export { isIsoDate };

// ---------------------------------------------------------------- the schema

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const nonEmpty = z.string().min(1);
const posInt = (what: string) => z.int({ error: `expected ${what}` }).positive({ error: `expected ${what}` });

// YAML reads `minimum: 1.10` as the number 1.1: versions must be quoted to keep their digits.
const textual = (what: string) =>
  z.string({ error: (iss) => (typeof iss.input === "number" ? `expected ${what} in quotes: unquoted, YAML reads it as a number (1.10 becomes 1.1)` : `expected ${what}`) });

const versionText = textual("a version").refine((s) => parseVersion(s) !== undefined, { error: "expected a version: text with at least one digit" });

const specText = textual("a version or a range").superRefine((s, ctx) => {
  const spec = parseVersionSpec(s);
  if ("error" in spec) ctx.addIssue({ code: "custom", message: spec.error });
});

const isoDate = z.string({ error: "expected a date (YYYY-MM-DD)" }).refine(isIsoDate, { error: "expected a real date (YYYY-MM-DD)" });

const manufacturer = nonEmpty
  .refine((s) => !s.includes("*"), { error: 'a manufacturer is matched exactly (in any case): "*" is for models only' })
  .describe("As the device reports it (ONVIF GetDeviceInformation); compared ignoring case and extra spaces.");
const modelPattern = nonEmpty.describe('A model, or a family with "*" standing for any text ("DS-2CD2*"; "*" for every model).');

const firmwareRuleSchema = z
  .strictObject({
    manufacturer,
    model: modelPattern,
    minimum: versionText.optional().describe("The approved baseline: older firmware fails firmware_outdated."),
    recommended: versionText.optional().describe("The version to upgrade to, named in the failure; not enforced."),
    blocked: z
      .array(specText)
      .default([])
      .describe('Versions that fail firmware_blocked whatever the minimum: "5.5.0", or a range ">=5.5.0 <5.5.82".'),
    note: nonEmpty.optional().describe("Why (an advisory, a ticket); carried in the failure's details."),
  })
  .superRefine(checkFirmwareRule, { when: (payload) => isObject(payload.value) });

const endOfSupportSchema = z.strictObject({
  manufacturer,
  model: modelPattern,
  date: isoDate.describe("The last day the vendor supports the model; end_of_support fails from the day after."),
  note: nonEmpty.optional(),
});

const maxAge = posInt("a positive whole number of seconds");
const ONLY_FORMAT = "expected 1 (the only policy format so far)";

export const policySchema = z
  .strictObject({
    // A number first, so that a missing version reads "required".
    version: z.number({ error: ONLY_FORMAT }).pipe(z.literal(1, { error: ONLY_FORMAT })),
    firmware: z.array(firmwareRuleSchema).default([]),
    end_of_support: z.array(endOfSupportSchema).default([]),
    clock: z
      .strictObject({ max_drift_s: z.number().positive().describe("Largest accepted difference between a device's clock and the gateway's.") })
      .optional(),
    not_seen: z
      .strictObject({
        max_age_s: maxAge.describe("Longest accepted time since a device last answered."),
        categories: z
          .strictObject({ "safety-critical": maxAge.optional(), operational: maxAge.optional() } satisfies Record<Category, unknown>)
          .default({})
          .describe("A limit per device category, over max_age_s."),
      })
      .optional(),
  })
  .superRefine(checkDuplicates, { when: (payload) => isObject(payload.value) });

export type PolicyFile = z.output<typeof policySchema>;

/**
 * A rule's own consistency. Runs on raw values too (see `when`): only
 * values of the right type are looked at, the rest is reported by the schema.
 */
function checkFirmwareRule(rule: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const blocked: unknown[] = Array.isArray(rule.blocked) ? rule.blocked : [];
  if (rule.minimum === undefined && blocked.length === 0) {
    ctx.addIssue({ code: "custom", path: [], message: "a firmware rule needs a minimum, a blocked list, or both" });
  }
  const minimum = typeof rule.minimum === "string" ? parseVersion(rule.minimum) : undefined;
  const recommended = typeof rule.recommended === "string" ? parseVersion(rule.recommended) : undefined;
  if (minimum && recommended && compareToBound(recommended, minimum) < 0) {
    ctx.addIssue({ code: "custom", path: ["recommended"], message: `"${recommended.text}" is below the minimum "${minimum.text}"` });
  }
  blocked.forEach((entry, i) => {
    const spec = typeof entry === "string" ? parseVersionSpec(entry) : undefined;
    if (spec === undefined || "error" in spec) return;
    if (minimum && matchesSpec(minimum, spec)) {
      ctx.addIssue({ code: "custom", path: ["blocked", i], message: `blocks the minimum "${minimum.text}" itself: raise the minimum or narrow this entry` });
    }
    if (recommended && matchesSpec(recommended, spec)) {
      ctx.addIssue({ code: "custom", path: ["recommended"], message: `"${recommended.text}" is blocked by blocked[${i}] ("${spec.text}")` });
    }
  });
}

/** No two rules of a list for the same manufacturer and model (whichever would win is a guess). */
function checkDuplicates(policy: Record<string, unknown>, ctx: z.RefinementCtx): void {
  for (const list of ["firmware", "end_of_support"] as const) {
    const rules: unknown[] = Array.isArray(policy[list]) ? policy[list] : [];
    const seen = new Map<string, number>();
    rules.forEach((r, i) => {
      if (!isObject(r) || typeof r.manufacturer !== "string" || typeof r.model !== "string") return;
      const key = `${normalize(r.manufacturer)}\0${normalize(r.model)}`;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, i);
      else ctx.addIssue({ code: "custom", path: [list, i, "model"], message: `duplicate rule for ${r.manufacturer} ${r.model} (also ${list}[${first}])` });
    });
  }
}

// ---------------------------------------------------------------- the loaded policy

/** What rules share: whom they apply to, and where they stand in the file. */
export interface ModelRule {
  /** `firmware[2]`, `end_of_support[0]`: named in failures, so a reader finds the rule. */
  at: string;
  manufacturer: string;
  /** As written, "*" included. */
  model: string;
  /** Whether the rule covers a model (normalised): exact, or the glob. */
  covers: (model: string) => boolean;
  /** Higher wins when several rules cover a model: an exact model, then the glob with the most literal text. */
  specificity: number;
}

export interface FirmwareBaseline extends ModelRule {
  minimum?: Version;
  recommended?: Version;
  blocked: VersionSpec[];
  note?: string;
}

export interface EndOfSupport extends ModelRule {
  /** YYYY-MM-DD, the last day of support. */
  date: string;
  note?: string;
}

export interface Policy {
  firmware: FirmwareBaseline[];
  end_of_support: EndOfSupport[];
  clock?: { max_drift_s: number };
  not_seen?: { max_age_s: number; categories: Partial<Record<Category, number>> };
}

/** The policy in a YAML text; throws a PolicyError listing every problem. `file` is named in messages. */
export function parsePolicy(text: string, file: string): Policy {
  const { parsed, problems, fail } = checkYaml(text, {
    file,
    schema: policySchema,
    empty: "the file is empty: expected a mapping with at least version: 1",
    error: PolicyError,
  });
  if (problems.length > 0 || !parsed.success) return fail();
  return compilePolicy(parsed.data);
}

/** Reads and checks a policy file (at start, and on SIGHUP); throws a PolicyError listing every problem. */
export function loadPolicyFile(file: string): Policy {
  return loadPolicy(file).policy;
}

/** A checked policy, and which file and content it came from (named in every compliance state). */
export interface LoadedPolicy {
  policy: Policy;
  /** Absolute path. */
  file: string;
  /** Of the file's content: tells two versions of the policy apart. */
  sha256: string;
}

/** Reads and checks a policy file; throws a PolicyError listing every problem. */
export function loadPolicy(file: string): LoadedPolicy {
  const text = readYamlFile(file, PolicyError);
  return { policy: parsePolicy(text, file), file, sha256: createHash("sha256").update(text).digest("hex") };
}

/** The config with the policy its `policy.file` names, loaded; throws a PolicyError. A config without one gets none. */
export function withPolicy(loaded: LoadedConfig): LoadedConfig {
  const file = loaded.config.policy?.file;
  if (file === undefined) return loaded;
  return { ...loaded, policy: loadPolicy(file) };
}

/** The rule that applies to a manufacturer and model: the most specific that covers them, the first in the file on a tie. */
export function ruleFor<R extends ModelRule>(rules: readonly R[], manufacturer: string | undefined, model: string | undefined): R | undefined {
  if (manufacturer === undefined || model === undefined) return undefined;
  const maker = normalize(manufacturer);
  const m = normalize(model);
  let best: R | undefined;
  for (const r of rules) {
    if (normalize(r.manufacturer) !== maker || !r.covers(m)) continue;
    if (best === undefined || r.specificity > best.specificity) best = r;
  }
  return best;
}

function compilePolicy(file: PolicyFile): Policy {
  return {
    firmware: file.firmware.map((r, i) => ({
      ...modelRule(`firmware[${i}]`, r.manufacturer, r.model),
      ...(r.minimum !== undefined && { minimum: version(r.minimum) }),
      ...(r.recommended !== undefined && { recommended: version(r.recommended) }),
      blocked: r.blocked.map(spec),
      ...(r.note !== undefined && { note: r.note }),
    })),
    end_of_support: file.end_of_support.map((r, i) => ({
      ...modelRule(`end_of_support[${i}]`, r.manufacturer, r.model),
      date: r.date,
      ...(r.note !== undefined && { note: r.note }),
    })),
    ...(file.clock && { clock: file.clock }),
    ...(file.not_seen && { not_seen: file.not_seen }),
  };
}

function modelRule(at: string, manufacturer: string, model: string): ModelRule {
  const pattern = normalize(model);
  const literal = pattern.replaceAll("*", "").length;
  if (!pattern.includes("*")) return { at, manufacturer, model, covers: (m) => m === pattern, specificity: Number.MAX_SAFE_INTEGER };
  const re = new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`);
  return { at, manufacturer, model, covers: (m) => re.test(m), specificity: literal };
}

/** Case and spacing are not part of a name: "HIKVISION " is "Hikvision". */
export function normalize(name: string): string {
  return name.trim().replace(/\s+/g, " ").toLowerCase();
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// The schema has checked these: a failure here is a bug, not a policy problem.
function version(text: string): Version {
  const v = parseVersion(text);
  if (v === undefined) throw new Error(`internal: version ${JSON.stringify(text)} passed the schema but does not parse`);
  return v;
}

function spec(text: string): VersionSpec {
  const s = parseVersionSpec(text);
  if ("error" in s) throw new Error(`internal: ${s.error}`);
  return s;
}
