/**
 * How this gateway authenticates to its broker (credentials, TLS material),
 * from the loaded config: one place for the publisher and for the CLI's own
 * connections (campus-agent test-alarm subscribes with the same identity).
 */
import { readFileSync } from "node:fs";
import type { LoadedConfig } from "../../config/load.js";
import type { TlsMaterial } from "./publisher.js";

export interface BrokerCredentials {
  username?: string;
  password?: string;
  tls?: TlsMaterial;
  /** The protocol to speak: the embedded aedes broker speaks MQTT 3.1.1 only (PRODUCT.md). */
  protocol: "mqtt5" | "mqtt3.1.1";
  /** The configured client id, or campus-agent-<campus>-<gateway>. */
  clientId: string;
}

/** Reads the TLS files now: call it when connecting, so a renewed certificate is picked up. */
export function brokerCredentials(loaded: LoadedConfig): BrokerCredentials {
  const cfg = loaded.config;
  const b = cfg.broker;
  return {
    clientId: b.client_id ?? `campus-agent-${cfg.campus.id}-${cfg.gateway.id}`,
    protocol: b.url === undefined ? "mqtt3.1.1" : b.protocol,
    ...(b.username !== undefined ? { username: b.username } : {}),
    ...(loaded.secrets.brokerPassword !== undefined ? { password: loaded.secrets.brokerPassword } : {}),
    ...(b.tls
      ? {
          tls: {
            ...(b.tls.ca_file ? { ca: readFileSync(b.tls.ca_file) } : {}),
            ...(b.tls.cert_file ? { cert: readFileSync(b.tls.cert_file) } : {}),
            ...(b.tls.key_file ? { key: readFileSync(b.tls.key_file) } : {}),
            ...(b.tls.server_name ? { servername: b.tls.server_name } : {}),
            rejectUnauthorized: b.tls.verify === "full",
          },
        }
      : {}),
  };
}

/** A broker URL fit to print: any user:password in it replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === "" && u.password === "") return url;
    u.username = "***";
    u.password = "";
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@");
  }
}
