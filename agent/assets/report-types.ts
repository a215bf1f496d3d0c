/**
 * What `campus-agent report` gets from the running agent (control method
 * `report`) and prints for auditors: the campus readiness, every configured
 * device with its inventory, status and compliance, and the unknown assets.
 * Its JSON form is `campus-agent report --format json` (docs/assets.md).
 */
import type { Identity } from "../../drivers/contract.js";
import type { Failure, Unchecked } from "../lifecycle/evaluate.js";
import type { Presence, Readiness, UnknownAssetPayload } from "../mqtt/asset-contract.js";

export const REPORT_SCHEMA = "campus-edge/asset-report/v1";

export interface ReportLifecycle {
  install_date?: string;
  warranty_end?: string;
  end_of_support?: string;
  asset_tag?: string;
}

export interface ReportDevice {
  id: string;
  name: string | null;
  kind: string;
  category: "safety-critical" | "operational";
  location: { building?: string; floor?: string; room?: string };
  owner: string | null;
  identity: Identity;
  lifecycle: ReportLifecycle;
  presence: Presence;
  status: {
    /** "unknown": not polled yet. */
    state: "online" | "degraded" | "offline" | "unknown";
    reason: string | null;
    reason_text: string | null;
    since: string | null;
    last_seen: string | null;
  };
  compliance: {
    /** false: no policy loaded; nothing was checked. */
    evaluated: boolean;
    compliant: boolean;
    failing: Failure[];
    unchecked: Unchecked[];
    since: string | null;
  };
}

export type ReportUnknown = Omit<UnknownAssetPayload, "schema" | "campus" | "gateway" | "ts">;

export interface AssetReport {
  schema: typeof REPORT_SCHEMA;
  generated_at: string;
  campus: { id: string; name: string | null };
  gateway: { id: string; name: string | null };
  agent_version: string;
  /** The lifecycle policy that decided compliance; null when none is loaded. */
  policy: { file: string; sha256: string } | null;
  readiness: Readiness;
  /** In config order. */
  devices: ReportDevice[];
  unknown: ReportUnknown[];
  /** The running agent adds who it is (version, pid, config file; never a secret) to its answer. */
  agent?: Record<string, unknown>;
}
