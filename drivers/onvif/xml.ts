/**
 * A tolerant reader for the few flat ONVIF and WS-Discovery fields this driver
 * needs (date and time, device information, profile counts, probe matches).
 *
 * Why not a real XML parser: cameras in the field send XML that strict
 * parsers reject (an unescaped `&` in a model name, invalid UTF-8, a missing
 * namespace declaration — see PRODUCT.md, "ONVIF cameras in the field"), and
 * the onvif library's strict xml2js parse then fails the whole answer. These
 * helpers look elements up by local name, ignoring namespace prefixes, and
 * never throw. They do not handle an element nested inside one of the same
 * name, which none of the fields read here has.
 */

const PREFIX = "(?:[A-Za-z_][\\w.-]*:)?";

function escapeName(local: string): string {
  return local.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** An element found by local name: its opening tag's attribute text and its inner markup. */
export interface Found {
  attrs: string;
  inner: string;
}

/** Every element with this local name, in document order. */
export function find(xml: string, local: string): Found[] {
  const name = escapeName(local);
  const open = new RegExp(`<${PREFIX}${name}(?=[\\s/>])([^>]*?)(/?)>`, "g");
  const out: Found[] = [];
  for (let m = open.exec(xml); m !== null; m = open.exec(xml)) {
    const attrs = m[1] ?? "";
    if (m[2] === "/") {
      out.push({ attrs, inner: "" });
      continue;
    }
    const close = new RegExp(`</${PREFIX}${name}\\s*>`, "g");
    close.lastIndex = open.lastIndex;
    const c = close.exec(xml);
    if (c === null) break;
    out.push({ attrs, inner: xml.slice(open.lastIndex, c.index) });
    open.lastIndex = close.lastIndex;
  }
  return out;
}

/** Inner markup of every element with this local name, in document order. */
export function elements(xml: string, local: string): string[] {
  return find(xml, local).map((f) => f.inner);
}

/** Inner markup of the first element with this local name. */
export function element(xml: string, local: string): string | undefined {
  return elements(xml, local)[0];
}

/** Trimmed text of the first element with this local name, entities decoded. */
export function text(xml: string, local: string): string | undefined {
  const inner = element(xml, local);
  return inner === undefined ? undefined : decodeText(inner);
}

/** Text content: CDATA unwrapped, tags dropped, the five XML entities and character references decoded. */
export function decodeText(inner: string): string {
  return (
    inner
      .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (_, c: string) => c.replace(/&/g, "&amp;").replace(/</g, "&lt;"))
      // Only what looks like a tag: a POSIX zone name such as <+0545> sent unescaped must survive.
      .replace(/<\/?[A-Za-z_][^>]*>/g, "")
      .replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (whole, e: string) => {
        if (e === "lt") return "<";
        if (e === "gt") return ">";
        if (e === "amp") return "&";
        if (e === "quot") return '"';
        if (e === "apos") return "'";
        const code = e.startsWith("#x") ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      })
      .trim()
  );
}

/** The value of an attribute in a Found element's attribute text (any prefix). */
export function attr(attrs: string, name: string): string | undefined {
  const a = new RegExp(`(?:^|\\s)${PREFIX}${escapeName(name)}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attrs);
  return a ? decodeText(a[1] ?? a[2] ?? "") : undefined;
}

/** Whether the text looks like a SOAP envelope at all (any prefix, any SOAP version). */
export function isSoapEnvelope(xml: string): boolean {
  return new RegExp(`<${PREFIX}Envelope[\\s>]`).test(xml) && new RegExp(`<${PREFIX}Body[\\s/>]`).test(xml);
}

/** A SOAP 1.2 Fault's codes and reason ([SOAP 1.2 Part 1 §5.4]); SOAP 1.1 faultcode/faultstring too. */
export interface SoapFault {
  /** Code/Value, then every Subcode/Value, e.g. ["env:Sender", "ter:NotAuthorized"]. */
  codes: string[];
  reason: string;
}

export function soapFault(xml: string): SoapFault | undefined {
  const fault = element(xml, "Fault");
  if (fault === undefined) return undefined;
  const codes = elements(fault, "Value").map(decodeText);
  const legacy = text(fault, "faultcode");
  if (legacy) codes.push(legacy);
  const reason = text(element(fault, "Reason") ?? "", "Text") ?? text(fault, "faultstring") ?? "";
  return { codes, reason };
}

/** Control characters and stray whitespace removed; for strings that end up in published identity. */
export function cleanField(s: string | undefined, maxChars = 128): string | undefined {
  if (s === undefined) return undefined;
  const cleaned = s
    // eslint-disable-next-line no-control-regex -- removing control characters is the point
    .replace(/[\u0000-\u001f\u007f]/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return cleaned === "" ? undefined : cleaned.slice(0, maxChars);
}
