/**
 * SOAP 1.2 framing for the simulated camera: reading a request envelope,
 * writing answer envelopes and the faults ONVIF defines.
 *
 * - Envelope and faults: SOAP 1.2 Part 1 §5 and §5.4 (Code/Subcode/Reason/Detail).
 * - HTTP status of a fault: SOAP 1.2 Part 2 §7.5.1.2 (env:Sender → 400, any other → 500).
 * - Fault codes: ONVIF Core 5.11.2.2 "Generic faults" (ter namespace
 *   http://www.onvif.org/ver10/error) and the Media service's ter:NoProfile.
 */
import { child, escapeXml, parseXml, type XmlElement, XmlError } from "./camera-xml.js";

export const NS = {
  env: "http://www.w3.org/2003/05/soap-envelope",
  soap11: "http://schemas.xmlsoap.org/soap/envelope/",
  tds: "http://www.onvif.org/ver10/device/wsdl",
  trt: "http://www.onvif.org/ver10/media/wsdl",
  tt: "http://www.onvif.org/ver10/schema",
  ter: "http://www.onvif.org/ver10/error",
} as const;

export const SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8";

export interface SoapFault {
  code: "Sender" | "Receiver" | "VersionMismatch";
  /** ter: subcodes, outermost first (e.g. ["InvalidArgVal", "NoProfile"]). */
  subcodes: readonly string[];
  reason: string;
  detail?: string;
}

/** The generic faults of ONVIF Core 5.11.2.2 that the camera uses, and Media's NoProfile. */
export const FAULTS = {
  notAuthorized: {
    code: "Sender",
    subcodes: ["NotAuthorized"],
    reason: "Sender not Authorized",
    detail: "The action requested requires authorization and the sender is not authorized",
  },
  actionNotSupported: {
    code: "Receiver",
    subcodes: ["ActionNotSupported"],
    reason: "Optional Action Not Implemented",
    detail: "The requested action is optional and is not implemented by the device",
  },
  noSuchService: {
    code: "Receiver",
    subcodes: ["ActionNotSupported", "NoSuchService"],
    reason: "Optional Action Not Implemented",
    detail: "The requested WSDL service category is not supported by the device",
  },
  noProfile: {
    code: "Sender",
    subcodes: ["InvalidArgVal", "NoProfile"],
    reason: "Argument Value Invalid",
    detail: "The requested profile token does not exist",
  },
  invalidStreamSetup: {
    code: "Sender",
    subcodes: ["InvalidArgVal", "InvalidStreamSetup"],
    reason: "Argument Value Invalid",
    detail: "Specification of Stream Type or Transport part in StreamSetup is not supported",
  },
  versionMismatch: { code: "VersionMismatch", subcodes: [], reason: "SOAP version mismatch" },
} as const satisfies Record<string, SoapFault>;

export function isFault(x: unknown): x is SoapFault {
  return typeof x === "object" && x !== null && "code" in x && "reason" in x;
}

export function wellFormedFault(why: string): SoapFault {
  return { code: "Sender", subcodes: ["WellFormed"], reason: "Well-formed Error", detail: why };
}

/** SOAP 1.2 Part 2 §7.5.1.2: env:Sender faults are HTTP 400, every other fault 500. */
export function faultStatus(f: SoapFault): number {
  return f.code === "Sender" ? 400 : 500;
}

const DECLARATIONS = Object.entries(NS)
  .filter(([p]) => p !== "soap11")
  .map(([p, uri]) => `xmlns:${p}="${uri}"`)
  .join(" ");

/** A whole SOAP 1.2 envelope around body (and header) content. */
export function envelope(body: string, header = ""): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope ${DECLARATIONS}>` +
    (header ? `<env:Header>${header}</env:Header>` : "") +
    `<env:Body>${body}</env:Body></env:Envelope>`
  );
}

export function faultEnvelope(f: SoapFault): string {
  const subcodes = f.subcodes.reduceRight((inner, sc) => `<env:Subcode><env:Value>ter:${sc}</env:Value>${inner}</env:Subcode>`, "");
  const detail = f.detail ? `<env:Detail><env:Text>${escapeXml(f.detail)}</env:Text></env:Detail>` : "";
  // SOAP 1.2 Part 1 §5.4.7: a VersionMismatch fault says which envelope we speak, in an Upgrade header block.
  const upgrade =
    f.code === "VersionMismatch" ? `<env:Upgrade><env:SupportedEnvelope qname="ns:Envelope" xmlns:ns="${NS.env}"/></env:Upgrade>` : "";
  return envelope(
    `<env:Fault><env:Code><env:Value>env:${f.code}</env:Value>${subcodes}</env:Code>` +
    `<env:Reason><env:Text xml:lang="en">${escapeXml(f.reason)}</env:Text></env:Reason>${detail}</env:Fault>`,
    upgrade,
  );
}

export interface SoapRequest {
  header: XmlElement | undefined;
  /** The operation: the first element child of the Body. */
  operation: XmlElement;
}

/** Read a request envelope; a fault says what is wrong with it. */
export function parseSoapRequest(text: string): SoapRequest | SoapFault {
  let root: XmlElement;
  try {
    root = parseXml(text);
  } catch (e) {
    if (e instanceof XmlError) return wellFormedFault(e.message);
    throw e;
  }
  if (root.local !== "Envelope") return { code: "Sender", subcodes: ["Tag"], reason: "No Tag", detail: "expected an Envelope" };
  // SOAP 1.2 Part 1 §5.4.7: another envelope namespace (a SOAP 1.1 client) is a VersionMismatch.
  if (root.ns !== NS.env) return FAULTS.versionMismatch;
  const body = child(root, "Body", NS.env);
  const operation = body?.children[0];
  if (!operation) return { code: "Sender", subcodes: ["Tag"], reason: "No Tag", detail: "the Body names no operation" };
  return { header: child(root, "Header", NS.env), operation };
}
