/**
 * The steps of a traced reachability poll (`campus-agent probe`): their
 * names, and what each answer says, from the timings probe.ts measured.
 * Built only when the poll is traced.
 */
import { hostPort, httpHead, roundMs, type StepSpec } from "../trace.js";
import { describeExpected, type HttpCheck, statusExpected, type Target } from "./options.js";
import type { Connected, HttpResult, TlsResult } from "./probe.js";

/** "tcp connect 10.20.1.31:80"; its errors start with probe.ts's "tcp 10.20.1.31:80". */
export function connectStep(target: Target): StepSpec<Connected> {
  return {
    step: `tcp connect ${hostPort(target.host, target.port)}`,
    where: `tcp ${target.host}:${target.port}`,
    done: (c) => {
      const local = `local port ${c.socket.localPort ?? "?"}`;
      return {
        ms: c.connectMs + (c.dnsMs ?? 0),
        detail:
          c.dnsMs === undefined
            ? `connected (${local})`
            : `${target.host} is ${c.socket.remoteAddress ?? "?"} (resolved in ${roundMs(c.dnsMs)} ms); connected in ${roundMs(c.connectMs)} ms (${local})`,
      };
    },
  };
}

/** "tls handshake (verify on)": the protocol, and the certificate the device showed. */
export function tlsStep(url: URL, check: HttpCheck): StepSpec<TlsResult> {
  return {
    step: `tls handshake (verify ${check.tls_verify === "full" ? "on" : "off"})`,
    where: `tls ${url.host}`,
    done: (t) => {
      const cert = t.socket.getPeerCertificate();
      const days = t.certDaysLeft === null ? "expiry unknown" : `${t.certDaysLeft} days left`;
      const trust = t.socket.authorized ? "trusted" : `not trusted (${String(t.socket.authorizationError)})`;
      return {
        ms: t.handshakeMs,
        detail: `${t.socket.getProtocol() ?? "TLS"}; certificate CN=${cert.subject?.CN ?? "?"} issued by CN=${cert.issuer?.CN ?? "?"}, ${days}, ${trust}`,
      };
    },
  };
}

/** "GET /health", then "GET /health → 200": the status against expect_status, and the response head as raw. */
export function httpStep(url: URL, check: HttpCheck): StepSpec<HttpResult> {
  const request = `${check.method} ${url.pathname}${url.search}`;
  return {
    step: request,
    where: `${check.method} ${url.href}`,
    done: (r) => {
      const verdict = statusExpected(check.expect_status, r.status)
        ? "as expected"
        : `not in expect_status (${describeExpected(check.expect_status)})`;
      const body = `${r.bodyBytes} body bytes read${r.bodyCapped ? ` (the rest not read: max_body_bytes ${check.max_body_bytes})` : ""}`;
      return { step: `${request} → ${r.status}`, ms: r.responseMs, detail: `HTTP ${r.status} ${verdict}; ${body}`, raw: httpHead(r.head) };
    },
  };
}
