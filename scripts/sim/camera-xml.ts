/**
 * Just enough XML for the camera simulator: a namespace-aware, non-validating
 * parser for the small SOAP requests a camera receives, and escaping for the
 * answers it writes. Node has no XML parser, and the simulators use builtins
 * only.
 *
 * It checks what a camera must check before it can answer: well-formedness
 * (XML 1.0 §2.1: one root, matching tags, quoted attributes, known entities)
 * and namespace well-formedness (Namespaces in XML 1.0 §5: every prefix
 * declared). A document type declaration is refused: SOAP 1.2 Part 1 §5
 * forbids one in a SOAP message, and refusing it rules out entity expansion.
 */

export interface XmlElement {
  /** Local name, without prefix. */
  local: string;
  /** Namespace URI ("" when none). */
  ns: string;
  /** Attributes by their qualified name as written (e.g. "Type", "s:mustUnderstand"). */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (character data and CDATA), entities decoded. */
  text: string;
  /** Prefix → namespace URI in scope here ("" for the default namespace), to resolve QNames in content. */
  scope: ReadonlyMap<string, string>;
}

export class XmlError extends Error {}

const XML_NS = "http://www.w3.org/XML/1998/namespace";
const NAME = /^[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?$/;
const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** Parse a whole document; throws XmlError when it is not well-formed. */
export function parseXml(source: string): XmlElement {
  let i = 0;
  let root: XmlElement | undefined;
  const stack: { el: XmlElement; qname: string; scope: Map<string, string> }[] = [];

  const fail = (why: string): never => {
    throw new XmlError(`${why} at offset ${i}`);
  };
  const skipPast = (end: string, what: string) => {
    const at = source.indexOf(end, i);
    if (at < 0) fail(`unterminated ${what}`);
    const inner = source.slice(i, at);
    i = at + end.length;
    return inner;
  };

  while (i < source.length) {
    const lt = source.indexOf("<", i);
    const textEnd = lt < 0 ? source.length : lt;
    if (textEnd > i) {
      const raw = source.slice(i, textEnd);
      const top = stack.at(-1);
      if (top) top.el.text += decodeEntities(raw, fail);
      else if (raw.trim() !== "") fail("text outside the root element");
      i = textEnd;
      continue;
    }
    if (source.startsWith("<?", i)) {
      i += 2;
      skipPast("?>", "processing instruction");
    } else if (source.startsWith("<!--", i)) {
      i += 4;
      if (skipPast("-->", "comment").includes("--")) fail("'--' inside a comment");
    } else if (source.startsWith("<![CDATA[", i)) {
      const top = stack.at(-1) ?? fail("CDATA outside the root element");
      i += 9;
      top.el.text += skipPast("]]>", "CDATA section");
    } else if (source.startsWith("<!", i)) {
      fail("document type declarations are not allowed in SOAP messages");
    } else if (source.startsWith("</", i)) {
      i += 2;
      const qname = skipPast(">", "end tag").trim();
      const top = stack.pop() ?? fail(`unexpected end tag </${qname}>`);
      if (top.qname !== qname) fail(`end tag </${qname}> does not match <${top.qname}>`);
    } else {
      if (root && stack.length === 0) fail("a second root element");
      i += 1;
      const { qname, rawAttrs, selfClosing } = readStartTag();
      const parentScope = stack.at(-1)?.scope ?? new Map([["xml", XML_NS]]);
      const declares = Object.keys(rawAttrs).some((k) => k === "xmlns" || k.startsWith("xmlns:"));
      // Most elements declare nothing: they share their parent's scope.
      const scope = declares ? new Map(parentScope) : parentScope;
      for (const [k, v] of Object.entries(rawAttrs)) {
        if (k === "xmlns") scope.set("", v);
        else if (k.startsWith("xmlns:")) scope.set(k.slice(6), v);
      }
      const [prefix, local] = splitQName(qname);
      const ns = scope.get(prefix) ?? (prefix === "" ? "" : fail(`undeclared prefix "${prefix}"`));
      for (const k of Object.keys(rawAttrs)) {
        const [p] = splitQName(k);
        if (p !== "" && p !== "xmlns" && !scope.has(p)) fail(`undeclared attribute prefix "${p}"`);
      }
      const el: XmlElement = { local, ns, attrs: rawAttrs, children: [], text: "", scope };
      const parent = stack.at(-1);
      if (parent) parent.el.children.push(el);
      else root = el;
      if (!selfClosing) stack.push({ el, qname, scope });
    }
  }
  if (stack.length > 0) fail(`unclosed element <${stack.at(-1)?.qname}>`);
  return root ?? fail("no root element");

  function readStartTag(): { qname: string; rawAttrs: Record<string, string>; selfClosing: boolean } {
    const nameMatch = /^[^\s/>]+/.exec(source.slice(i, i + 256));
    const qname = nameMatch?.[0] ?? fail("missing element name");
    if (!NAME.test(qname)) fail(`bad element name "${qname}"`);
    i += qname.length;
    const rawAttrs: Record<string, string> = {};
    for (;;) {
      while (/\s/.test(source[i] ?? "")) i++;
      if (source.startsWith("/>", i)) {
        i += 2;
        return { qname, rawAttrs, selfClosing: true };
      }
      if (source[i] === ">") {
        i += 1;
        return { qname, rawAttrs, selfClosing: false };
      }
      const m = /^([^\s=/>]+)\s*=\s*(["'])/.exec(source.slice(i, i + 512)) ?? fail(`bad attribute in <${qname}>`);
      const [whole, name = "", quote = '"'] = m;
      if (!NAME.test(name)) fail(`bad attribute name "${name}"`);
      if (name in rawAttrs) fail(`duplicate attribute "${name}"`);
      i += whole.length;
      const value = skipPast(quote, "attribute value");
      if (value.includes("<")) fail(`'<' in attribute "${name}"`);
      rawAttrs[name] = decodeEntities(value, fail);
    }
  }
}

function splitQName(qname: string): [prefix: string, local: string] {
  const colon = qname.indexOf(":");
  return colon < 0 ? ["", qname] : [qname.slice(0, colon), qname.slice(colon + 1)];
}

function decodeEntities(raw: string, fail: (why: string) => never): string {
  return raw.replace(/&([^;&\s]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(";")) return fail("bare '&' (write &amp;)");
    if (name.startsWith("#")) {
      const code = name.startsWith("#x") ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
      return Number.isInteger(code) && code > 0 && code <= 0x10ffff
        ? String.fromCodePoint(code)
        : fail(`bad character reference &${name};`);
    }
    return ENTITIES[name] ?? fail(`unknown entity &${name};`);
  });
}

/** Escape text for element content and double-quoted attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&${{ "<": "lt", ">": "gt", "&": "amp", '"': "quot", "'": "apos" }[c]};`);
}

/** Direct children with this local name (and namespace, when given). */
export function childrenNamed(el: XmlElement, local: string, ns?: string): XmlElement[] {
  return el.children.filter((c) => c.local === local && (ns === undefined || c.ns === ns));
}

export function child(el: XmlElement | undefined, local: string, ns?: string): XmlElement | undefined {
  return el ? childrenNamed(el, local, ns)[0] : undefined;
}

/** Follow a path of local names (any namespace) down from el. */
export function descend(el: XmlElement | undefined, ...path: string[]): XmlElement | undefined {
  let at = el;
  for (const local of path) at = child(at, local);
  return at;
}

/** An attribute by local name, whatever its prefix. */
export function attr(el: XmlElement | undefined, local: string): string | undefined {
  if (!el) return undefined;
  for (const [k, v] of Object.entries(el.attrs)) if (splitQName(k)[1] === local && !k.startsWith("xmlns")) return v;
  return undefined;
}
