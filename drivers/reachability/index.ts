/**
 * Reachability: "is it answering?" for devices that offer nothing richer to
 * poll (intercoms, signage players, access points, switches, NVRs).
 *
 * One poll: TCP connect to host:port, then, when configured, one HTTP(S)
 * request. When the health URL is on that same host and port the request goes
 * over the connection just opened, so a poll costs the device one connection.
 *
 * Outcomes (see README.md):
 * - no answer at all → DriverError (refused, unreachable, dns, tls, timeout, protocol);
 * - an answer, but an HTTP status outside expect_status → degraded reading, reason
 *   "http_status": the device is alive and says it is unwell, which is a
 *   different fact for a technician than a device that is gone;
 * - an answer slower than degraded_above_ms → degraded reading, reason "slow".
 */
import type { Clock } from "../../agent/clock.js";
import { DriverError, defineDriver, type MetricValue, type Reading } from "../contract.js";
import { type Trace, traced, roundMs } from "../trace.js";
import {
  describeExpected,
  httpTarget,
  type ReachabilityOptions,
  reachabilityOptionsSchema,
  sameTarget,
  statusExpected,
  type Target,
} from "./options.js";
import { type Connected, httpExchange, PollScope, tcpConnect, tlsHandshake } from "./probe.js";
import { connectStep, httpStep, tlsStep } from "./trace.js";

export { type ReachabilityOptions, type ReachabilityOptionsInput, reachabilityOptionsSchema } from "./options.js";

/** Milliseconds with 0.1 ms resolution: finer is noise on a Raspberry Pi. */

export const reachabilityDriver = defineDriver({
  kind: "reachability",
  description: "Is the device answering? TCP connect and/or an HTTP(S) health request (intercoms, signage, access points, switches, NVRs).",
  optionsSchema: reachabilityOptionsSchema,
  create({ clock }) {
    return {
      poll: async (device, ctx) => {
        if (ctx.signal.aborted) throw new DriverError("timeout", "deadline reached before the poll started", { cause: ctx.signal.reason });
        const scope = new PollScope(ctx.signal);
        try {
          return await pollOnce(device.options, scope, clock, ctx.trace);
        } finally {
          scope.dispose();
        }
      },
      // Nothing is kept between polls.
      close: async () => {},
    };
  },
});

async function pollOnce(o: ReachabilityOptions, scope: PollScope, clock: Clock, trace: Trace | undefined): Promise<Reading> {
  const now = () => clock.monotonic();
  const connect = (target: Target) => traced(trace, () => connectStep(target), () => tcpConnect(scope, target, clock));
  const start = now();
  const metrics: Record<string, MetricValue> = {};
  const url = o.http ? new URL(o.http.url) : undefined;
  const httpAt = url ? httpTarget(url) : undefined;

  let reusable: Connected | undefined;
  if (o.port !== undefined) {
    const target = { host: o.host, port: o.port };
    const c = await connect(target);
    metrics.tcp_connect_ms = roundMs(c.connectMs);
    if (c.dnsMs !== undefined) metrics.dns_lookup_ms = roundMs(c.dnsMs);
    if (httpAt && sameTarget(target, httpAt)) reusable = c;
    else c.socket.destroy();
  }

  let statusProblem: string | undefined;
  if (o.http && url && httpAt) {
    const http = o.http;
    const c = reusable ?? (await connect(httpAt));
    if (!reusable) {
      // With no TCP check of its own, the HTTP connection is the TCP check.
      metrics.tcp_connect_ms ??= roundMs(c.connectMs);
      if (c.dnsMs !== undefined) metrics.dns_lookup_ms ??= roundMs(c.dnsMs);
    }
    let socket = c.socket;
    if (url.protocol === "https:") {
      const t = await traced(trace, () => tlsStep(url, http), () => tlsHandshake(scope, socket, url, http, clock));
      socket = t.socket;
      metrics.tls_handshake_ms = roundMs(t.handshakeMs);
      metrics.tls_cert_days_left = t.certDaysLeft;
    }
    const r = await traced(trace, () => httpStep(url, http), () => httpExchange(scope, socket, url, http, clock));
    Object.assign(metrics, {
      http_status: r.status,
      http_response_ms: roundMs(r.responseMs),
      http_body_bytes: r.bodyBytes,
      http_body_capped: r.bodyCapped,
      http_server: r.server,
    });
    if (!statusExpected(o.http.expect_status, r.status)) {
      statusProblem = `HTTP ${r.status} from ${url.href}; expected ${describeExpected(o.http.expect_status)}`;
    }
  }

  const responseTimeMs = roundMs(now() - start);
  const slow = o.degraded_above_ms !== undefined && responseTimeMs > o.degraded_above_ms;
  const slowText = `answered in ${responseTimeMs} ms, above ${o.degraded_above_ms} ms`;
  // A wrong status outranks slowness: it is the device itself saying it is unwell.
  if (statusProblem) {
    return {
      health: "degraded",
      reason: "http_status",
      reasonText: slow ? `${statusProblem}; ${slowText}` : statusProblem,
      responseTimeMs,
      metrics,
    };
  }
  if (slow) return { health: "degraded", reason: "slow", reasonText: slowText, responseTimeMs, metrics };
  return { health: "ok", reason: "ok", reasonText: `answered in ${responseTimeMs} ms`, responseTimeMs, metrics };
}
