import { describe, expect, it } from "vitest";
import { digestAuthorization, pickChallenge } from "../../drivers/onvif/digest.js";
import { expandTargets, parseProbeMatches, pickXAddr, probeMessage, scopeFields } from "../../drivers/onvif/discovery.js";
import { CallFailure, classify } from "../../drivers/onvif/errors.js";
import { onvifOptionsSchema } from "../../drivers/onvif/options.js";
import { authProblem, describeDrift } from "../../drivers/onvif/poll.js";
import { normaliseMac, parseNetworkInterfaces, rtMetric } from "../../drivers/onvif/steps.js";
import { attr, cleanField, element, find, soapFault, text } from "../../drivers/onvif/xml.js";

const errno = (code: string, message = code) => Object.assign(new Error(message), { code });
const env = (body: string) =>
  `<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>${body}</env:Body></env:Envelope>`;
const fault = (sub: string, reason: string) =>
  env(
    `<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>${sub}</env:Value></env:Subcode></env:Code>` +
    `<env:Reason><env:Text xml:lang="en">${reason}</env:Text></env:Reason></env:Fault>`,
  );

describe("tolerant XML reading", () => {
  it("finds elements by local name whatever their prefix, with attributes and entities", () => {
    const xml = "<a:Root><b:Item token=\"p&amp;1\">x &lt; y</b:Item><Item token='two'/><c:Other>z</c:Other></a:Root>";
    expect(find(xml, "Item").map((f) => attr(f.attrs, "token"))).toEqual(["p&1", "two"]);
    expect(text(xml, "Item")).toBe("x < y");
    expect(element(xml, "Missing")).toBeUndefined();
  });

  it("reads values that strict parsers reject: a bare ampersand, CDATA, replacement characters", () => {
    const xml = "<tds:Model>Cam & Co \uFFFD</tds:Model><tds:FirmwareVersion><![CDATA[V5.5.0 <build>]]></tds:FirmwareVersion>";
    expect(text(xml, "Model")).toBe("Cam & Co \uFFFD");
    expect(text(xml, "FirmwareVersion")).toBe("V5.5.0 <build>");
  });

  it("reads SOAP 1.2 fault codes and reason", () => {
    expect(soapFault(fault("ter:NotAuthorized", "Sender not Authorized"))).toEqual({
      codes: ["env:Sender", "ter:NotAuthorized"],
      reason: "Sender not Authorized",
    });
  });

  it("cleans identity fields of control characters and runs of whitespace", () => {
    expect(cleanField("  AXIS\u0000 P3245-LVE\n ")).toBe("AXIS P3245-LVE");
    expect(cleanField(" \t")).toBeUndefined();
  });
});

describe("onvif error mapping", () => {
  const cases: { name: string; err: unknown; last?: { status: number; body: string }; kind: string; code: string }[] = [
    { name: "a refused connection", err: errno("ECONNREFUSED"), kind: "transport", code: "refused" },
    { name: "no route to the camera", err: errno("EHOSTUNREACH"), kind: "transport", code: "unreachable" },
    { name: "an unknown name", err: errno("ENOTFOUND"), kind: "transport", code: "dns" },
    { name: "the library's idle timeout", err: new Error("Network timeout"), kind: "transport", code: "timeout" },
    { name: "a reset mid-answer (rebooting)", err: errno("ECONNRESET", "socket hang up"), kind: "transport", code: "protocol" },
    { name: "bytes that are not HTTP", err: errno("HPE_INVALID_CONSTANT"), kind: "not_onvif", code: "protocol" },
    { name: "a second 401 after HTTP Digest", err: new Error("Digest authentication failed 401"), kind: "auth", code: "auth" },
    {
      name: "a NotAuthorized fault",
      err: new Error("ONVIF SOAP Fault: Sender not Authorized"),
      last: { status: 400, body: fault("ter:NotAuthorized", "Sender not Authorized") },
      kind: "auth",
      code: "auth",
    },
    {
      name: "a WS-Security FailedAuthentication fault",
      err: new Error("x"),
      last: { status: 500, body: fault("wsse:FailedAuthentication", "") },
      kind: "auth",
      code: "auth",
    },
    {
      name: "another SOAP fault",
      err: new Error("x"),
      last: { status: 400, body: fault("ter:ActionNotSupported", "Optional Action Not Implemented") },
      kind: "answer",
      code: "protocol",
    },
    {
      name: "HTTP 500 with an HTML page",
      err: new Error("Wrong ONVIF SOAP response"),
      last: { status: 500, body: "<html><body>oops</body></html>" },
      kind: "not_onvif",
      code: "http_status",
    },
    {
      name: "HTTP 404 from a web server",
      err: new Error("Wrong ONVIF SOAP response"),
      last: { status: 404, body: "Not Found" },
      kind: "not_onvif",
      code: "protocol",
    },
    {
      name: "a 401 without a challenge",
      err: new Error("Wrong ONVIF SOAP response"),
      last: { status: 401, body: "" },
      kind: "auth",
      code: "auth",
    },
    {
      name: "malformed SOAP",
      err: new Error("Unclosed root tag"),
      last: { status: 200, body: env("<tds:GetDeviceInformationResponse>") },
      kind: "answer",
      code: "protocol",
    },
  ];
  for (const c of cases) {
    it(`maps ${c.name} to ${c.kind} / ${c.code}`, () => {
      const f = classify("GetDeviceInformation", c.err, c.last);
      expect(f).toBeInstanceOf(CallFailure);
      expect({ kind: f.kind, code: f.code, name: f.name }).toEqual({ kind: c.kind, code: c.code, name: "DriverError" });
      expect(f.message).toMatch(/^GetDeviceInformation: /);
    });
  }

  it("marks a fault saying our timestamp expired as such", () => {
    const f = classify("GetDeviceInformation", new Error("x"), {
      status: 400,
      body: fault("wsu:MessageExpired", "The message has expired"),
    });
    expect({ kind: f.kind, expired: f.expired }).toEqual({ kind: "auth", expired: true });
  });

  it("does not retry credentials or non-ONVIF answers, and retries what may pass", () => {
    expect(classify("x", new Error("Digest authentication failed 401"), undefined).retryable).toBe(false);
    expect(classify("x", new Error("y"), { status: 404, body: "" }).retryable).toBe(false);
    expect(classify("x", errno("ECONNREFUSED"), undefined).retryable).toBe(true);
  });
});

describe("the MAC address from GetNetworkInterfaces", () => {
  /** One tt:NetworkInterface, in the schema's order; undefined leaves an element out. */
  const nic = (o: { token?: string; enabled?: string; name?: string; hw?: string; info?: boolean }) => {
    const name = o.name === undefined ? "" : `<tt:Name>${o.name}</tt:Name>`;
    const hw = o.hw === undefined ? "" : `<tt:HwAddress>${o.hw}</tt:HwAddress>`;
    const info = o.info === false ? "" : `<tt:Info>${name}${hw}<tt:MTU>1500</tt:MTU></tt:Info>`;
    const enabled = o.enabled === undefined ? "" : `<tt:Enabled>${o.enabled}</tt:Enabled>`;
    // The IPv4 block has an Enabled of its own, after the interface's.
    const ipv4 = "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:DHCP>true</tt:DHCP></tt:Config></tt:IPv4>";
    const token = o.token === undefined ? "" : ` token="${o.token}"`;
    return `<tds:NetworkInterfaces${token}>${enabled}${info}${ipv4}</tds:NetworkInterfaces>`;
  };
  const answer = (...nics: string[]) => env(`<tds:GetNetworkInterfacesResponse>${nics.join("")}</tds:GetNetworkInterfacesResponse>`);

  it("normalises the ways firmware writes a MAC to lower case with colons", () => {
    for (const raw of ["00:40:8C:12:34:56", "00-40-8c-12-34-56", "00408C123456", "0040.8c12.3456", " 0:40:8c:12:34:56 "]) {
      expect(normaliseMac(raw), raw).toBe("00:40:8c:12:34:56");
    }
    expect(normaliseMac("02:00:5e:10:00:01")).toBe("02:00:5e:10:00:01");
  });

  it("refuses what is no interface's MAC: all zeros, group addresses, wrong lengths, mixed separators, garbage", () => {
    for (const raw of [
      "00:00:00:00:00:00",
      "ff:ff:ff:ff:ff:ff",
      "01:00:5e:00:00:01",
      "00:40:8c:12:34",
      "00:40:8c:12:34:56:78",
      "00:40-8c:12:34:56",
      "00408C12345G",
      "not a mac",
      "",
    ]) {
      expect(normaliseMac(raw), raw).toBeUndefined();
    }
  });

  it("takes the first enabled interface with a valid HwAddress, passing over a disabled one", () => {
    const body = answer(
      nic({ token: "wlan0", enabled: "false", name: "wlan0", hw: "00:40:8C:AA:BB:CC" }),
      nic({ token: "eth0", enabled: "true", name: "eth0", hw: "00:40:8C:12:34:56" }),
      nic({ token: "eth1", enabled: "true", name: "eth1", hw: "00:40:8C:12:34:57" }),
    );
    expect(parseNetworkInterfaces(body)).toEqual({ mac: "00:40:8c:12:34:56", from: "eth0", listed: 3, enabled: 2 });
  });

  it("passes over an enabled interface without a HwAddress, or with an invalid one, to the next", () => {
    const body = answer(
      nic({ token: "lo", enabled: "true", info: false }),
      nic({ token: "br0", enabled: "true", name: "br0", hw: "00:00:00:00:00:00" }),
      nic({ token: "eth0", enabled: "1", hw: "00408c123456" }),
    );
    expect(parseNetworkInterfaces(body)).toMatchObject({ mac: "00:40:8c:12:34:56", from: "eth0" });
  });

  it("counts an interface without Enabled (sloppy firmware) as enabled, and reads its own Enabled, not its IPv4 one", () => {
    expect(parseNetworkInterfaces(answer(nic({ hw: "00:40:8c:12:34:56" })))).toMatchObject({ mac: "00:40:8c:12:34:56", from: "interface 1" });
    expect(parseNetworkInterfaces(answer(nic({ enabled: "false", hw: "00:40:8c:12:34:56" })))).toMatchObject({ mac: undefined });
  });

  it("says why there is no MAC: no interfaces, all disabled, no HwAddress, or only invalid ones", () => {
    const problem = (body: string) => parseNetworkInterfaces(body)?.problem;
    expect(problem(answer())).toBe("the camera lists no network interfaces");
    expect(problem(answer(nic({ enabled: "false", hw: "00:40:8c:12:34:56" }), nic({ enabled: "false", hw: "00:40:8c:12:34:57" })))).toBe(
      "no enabled network interface (2 listed, all disabled)",
    );
    expect(problem(answer(nic({ enabled: "true", name: "eth0" })))).toBe("no enabled network interface has a HwAddress");
    expect(problem(answer(nic({ enabled: "true", name: "eth0", hw: "00:00:00:00:00:00" }), nic({ enabled: "true", token: "eth1", hw: "n/a" })))).toBe(
      'no enabled network interface has a valid MAC address (eth0: "00:00:00:00:00:00", eth1: "n/a")',
    );
    expect(parseNetworkInterfaces(answer(nic({ enabled: "true", hw: "garbage" })))?.mac).toBeUndefined();
  });

  it("reads a SOAP fault, or another answer, as no GetNetworkInterfacesResponse; the fault maps to an answer failure", () => {
    const notSupported = fault("ter:ActionNotSupported", "Optional Action Not Implemented");
    expect(parseNetworkInterfaces(notSupported)).toBeUndefined();
    expect(parseNetworkInterfaces(env("<tds:GetDeviceInformationResponse/>"))).toBeUndefined();
    expect(parseNetworkInterfaces("<html>login</html>")).toBeUndefined();
    const f = classify("GetNetworkInterfaces", new Error("ONVIF SOAP Fault"), { status: 500, body: notSupported });
    expect({ kind: f.kind, code: f.code, message: f.message }).toEqual({
      kind: "answer",
      code: "protocol",
      message: "GetNetworkInterfaces: SOAP fault: env:Sender / ter:ActionNotSupported: Optional Action Not Implemented",
    });
  });
});

describe("auth or clock: telling a wrong password from a wrong clock", () => {
  const o = onvifOptionsSchema.parse({ host: "cam", username: "u", password_env: "P" });
  const refused = classify("GetDeviceInformation", new Error("Digest authentication failed 401"), undefined);
  const creds = { username: "u", password: "p" };

  it("blames the credentials when the clocks agree within the WS-Security window", () => {
    expect(authProblem(refused, 1200, o, creds).reason).toBe("auth");
  });

  it("blames the clock when it is further off than the window, and says both", () => {
    const p = authProblem(refused, -600_000, o, creds);
    expect(p.reason).toBe("clock_skew");
    expect(p.text).toContain("600 s behind the gateway");
    expect(p.text).toContain("credentials");
  });

  it("says so when no credentials are configured", () => {
    expect(authProblem(refused, 0, o, undefined)).toMatchObject({ reason: "auth", text: expect.stringContaining("no credentials") });
  });

  it("describes drift in seconds with a direction", () => {
    expect(describeDrift(90_400)).toBe("90 s ahead of the gateway");
    expect(describeDrift(-6200)).toBe("6.2 s behind the gateway");
  });
});

describe("HTTP Digest for the snapshot (RFC 7616 §3.9.1 example)", () => {
  const request = {
    method: "GET",
    uri: "/dir/index.html",
    username: "Mufasa",
    password: "Circle of Life",
    cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    nc: 1,
  };
  const challenge = (algorithm: string) =>
    `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${algorithm}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`;

  it("computes the RFC's MD5 and SHA-256 responses", () => {
    const md5 = pickChallenge([challenge("MD5")]);
    const sha = pickChallenge([challenge("SHA-256")]);
    if (!md5 || !sha) throw new Error("challenges not parsed");
    expect(digestAuthorization(md5, request)).toContain('response="8ca523f5e9506fed4657c9700eebdbec"');
    expect(digestAuthorization(sha, request)).toContain('response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"');
  });

  it("prefers SHA-256 when a camera offers both, and ignores non-Digest challenges", () => {
    expect(pickChallenge(['Basic realm="cam"', challenge("MD5"), challenge("SHA-256")])?.algorithm).toBe("SHA-256");
    expect(pickChallenge(['Basic realm="cam"'])).toBeUndefined();
  });
});

describe("WS-Discovery", () => {
  const id = "urn:uuid:0b2c1a9e-1111-4222-8333-444455556666";
  // As a Hikvision camera answers (namespaces trimmed).
  const matches = (relatesTo: string) =>
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:wsadis=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\">" +
    `<env:Header><wsadis:MessageID>urn:uuid:aaaa</wsadis:MessageID><wsadis:RelatesTo>${relatesTo}</wsadis:RelatesTo>` +
    "<wsadis:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsadis:Action></env:Header>" +
    "<env:Body><d:ProbeMatches><d:ProbeMatch><wsadis:EndpointReference><wsadis:Address>urn:uuid:cam-1</wsadis:Address></wsadis:EndpointReference>" +
    "<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>" +
    "<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G2 onvif://www.onvif.org/hardware/DS-2CD2143G2-I onvif://www.onvif.org/location/city/hangzhou onvif://www.onvif.org/location/building/main</d:Scopes>" +
    "<d:XAddrs>http://169.254.1.2/onvif/device_service http://10.1.2.50/onvif/device_service</d:XAddrs><d:MetadataVersion>10</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>";

  it("parses a ProbeMatch answering our Probe, and ignores one answering someone else's", () => {
    const [m] = parseProbeMatches(matches(id), id);
    expect(m).toEqual({
      endpoint: "urn:uuid:cam-1",
      types: ["dn:NetworkVideoTransmitter", "tds:Device"],
      scopes: expect.arrayContaining(["onvif://www.onvif.org/hardware/DS-2CD2143G2-I"]),
      xaddrs: ["http://169.254.1.2/onvif/device_service", "http://10.1.2.50/onvif/device_service"],
    });
    expect(parseProbeMatches(matches("urn:uuid:other"), id)).toEqual([]);
    expect(parseProbeMatches("garbage \u0000", id)).toEqual([]);
  });

  it("reads name, hardware and location scopes, decoded", () => {
    const m = parseProbeMatches(matches(id), id)[0];
    expect(scopeFields(m?.scopes ?? [])).toEqual({
      name: "HIKVISION DS-2CD2143G2",
      hardware: "DS-2CD2143G2-I",
      location: "city/hangzhou / building/main",
    });
  });

  it("uses the XAddr on the address that answered", () => {
    const xaddrs = ["http://169.254.1.2/onvif/device_service", "http://10.1.2.50/onvif/device_service"];
    expect(pickXAddr(xaddrs, "10.1.2.50")).toBe("http://10.1.2.50/onvif/device_service");
    expect(pickXAddr(xaddrs, "10.9.9.9")).toBe("http://169.254.1.2/onvif/device_service");
  });

  it("sends a Probe for NetworkVideoTransmitter with our MessageID", () => {
    const p = probeMessage(id);
    expect(p).toContain(`<a:MessageID>${id}</a:MessageID>`);
    expect(p).toContain("<d:Types>dn:NetworkVideoTransmitter</d:Types>");
  });

  it("expands addresses, CIDR blocks and ranges, skipping network and broadcast addresses", () => {
    expect(expandTargets(["10.1.2.0/29"])).toEqual({
      ok: true,
      addresses: ["10.1.2.1", "10.1.2.2", "10.1.2.3", "10.1.2.4", "10.1.2.5", "10.1.2.6"],
    });
    expect(expandTargets(["10.1.2.50", "10.1.2.49-51", "10.1.2.50/32"])).toEqual({
      ok: true,
      addresses: ["10.1.2.50", "10.1.2.49", "10.1.2.51"],
    });
    expect(expandTargets(["10.1.2.254-10.1.3.1"])).toMatchObject({
      ok: true,
      addresses: ["10.1.2.254", "10.1.2.255", "10.1.3.0", "10.1.3.1"],
    });
  });

  it("refuses more than 1024 addresses and malformed targets", () => {
    expect(expandTargets(["10.0.0.0/21"])).toMatchObject({ ok: false, problem: expect.stringContaining("more than 1024") });
    expect(expandTargets(["10.0.0.0/22"])).toMatchObject({ ok: true });
    for (const bad of ["10.0.0.256", "cam.local", "10.0.0.9-3", "10.0.0.0/33"]) expect(expandTargets([bad]).ok, bad).toBe(false);
  });
});

describe("metric names", () => {
  it("names response times after the ONVIF operation in snake case, with the unit", () => {
    expect(rtMetric("GetSystemDateAndTime")).toBe("rt_get_system_date_and_time_ms");
    expect(rtMetric("GetDeviceInformation")).toBe("rt_get_device_information_ms");
    expect(rtMetric("GetStreamUri")).toBe("rt_get_stream_uri_ms");
  });
});
