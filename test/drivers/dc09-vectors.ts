/**
 * DC-09 frames from public sources other than this project, to check the
 * codec (drivers/dc09) and the simulator's encoder (scripts/sim/dc09-*)
 * against something neither of them wrote. Each names where it comes from.
 * Frames are latin1 strings with the <LF> and <CR>.
 */

/** A frame and what it holds. */
export interface Vector {
  source: string;
  frame: string;
  token: string;
  encrypted: boolean;
  sequence: number;
  receiver?: string;
  line?: string;
  account: string;
  data: string;
  extended?: string[];
  /** ISO 8601, when the frame has a timestamp. */
  timestamp?: string;
  /** Encrypted frames: the key (hex) and the pad bytes the source used. */
  key?: string;
  pad?: number[];
}

const SPEC = "ANSI/SIA DC-09-2013 examples, as reproduced in pysiaalarm tests/test_sia_package_cases.py (case_adm_cid, case_dc04), timestamp left off";
const SWISS = "twanchai/sia-dc-09-library (Swissdotnet), sia-dc-09-parsing/src/test/.../ParsingStandardTest.java, SerializationStandardTest.java";
const FIOLETOVEN = "fioletoven/dc09 (Rust), common/src/dc09/message.tests.rs";

export const VECTORS: Vector[] = [
  { source: SPEC, frame: '\n87CD0037"ADM-CID"9876R579BDFL789ABC#12345A[#12345A|1110 00 129]\r', token: "ADM-CID", encrypted: false, sequence: 9876, receiver: "579BDF", line: "789ABC", account: "12345A", data: "#12345A|1110 00 129" },
  { source: SPEC, frame: '\nCE110032"SIA-DCS"9876R579BDFL789ABC#12345A[#12345A|NFA129]\r', token: "SIA-DCS", encrypted: false, sequence: 9876, receiver: "579BDF", line: "789ABC", account: "12345A", data: "#12345A|NFA129" },
  { source: SWISS, frame: '\n2729002e"ACK"0001L0#080027E62A64[]_16:07:07,04-14-2015\r', token: "ACK", encrypted: false, sequence: 1, line: "0", account: "080027E62A64", data: "", timestamp: "2015-04-14T16:07:07.000Z" },
  { source: SWISS, frame: '\nA62A0012"ACK"0001L0#7099[]\r', token: "ACK", encrypted: false, sequence: 1, line: "0", account: "7099", data: "" },
  { source: SWISS, frame: '\n01fc0037"ACK"0000Rc0ffdL1234#080027E62A64[]_12:10:40,06-22-2015\r', token: "ACK", encrypted: false, sequence: 0, receiver: "c0ffd", line: "1234", account: "080027E62A64", data: "", timestamp: "2015-06-22T12:10:40.000Z" },
  { source: SWISS, frame: '\n416A0036"ACK"0001R5678L1234#080027E62A64[]_16:07:53,04-14-2015\r', token: "ACK", encrypted: false, sequence: 1, receiver: "5678", line: "1234", account: "080027E62A64", data: "", timestamp: "2015-04-14T16:07:53.000Z" },
  {
    source: SWISS,
    frame: '\nE34C0062"*ACK"0001R5678L1234#080027E62A64[14F088FF5DCB19D1908069507EAB97C7CDB20F1C6EFA550BB59864D54B2DFA1C\r',
    token: "ACK", encrypted: true, sequence: 1, receiver: "5678", line: "1234", account: "080027E62A64", data: "", timestamp: "2015-04-14T16:08:12.000Z",
    key: "ABCDABCDABCDABCDABCDABCDABCDABCD", pad: [0x12, 0xf1, 0xc2, 0x2a, 0x88, 0xeb, 0x44, 0x56, 0x79, 0xda],
  },
  {
    source: SWISS,
    frame: '\n02B70063"*ACK"0000RC0FFDL1234#00900B376AB6[5F1BEAF37775DEC5F901894BDD25D9565C122B2BBAAD72E84E23B8F75554EF8C\r',
    token: "ACK", encrypted: true, sequence: 0, receiver: "C0FFD", line: "1234", account: "00900B376AB6", data: "", timestamp: "2015-04-27T08:06:26.000Z",
    key: "28376EF26E782E1A4A160E3276E5FB93", pad: [0x73, 0x0b, 0x1d, 0x81, 0xa5, 0x45, 0x3a, 0x52, 0x6f, 0x57],
  },
  { source: SWISS, frame: '\n3C830025"NAK"0000R0L0A0[]_16:09:09,04-14-2015\r', token: "NAK", encrypted: false, sequence: 0, receiver: "0", line: "0", account: "0", data: "", timestamp: "2015-04-14T16:09:09.000Z" },
  { source: SWISS, frame: '\nC26E0038"NULL"0000RC0FFDL1234#080027E62A64[]_13:40:27,06-22-2015\r', token: "NULL", encrypted: false, sequence: 0, receiver: "C0FFD", line: "1234", account: "080027E62A64", data: "", timestamp: "2015-06-22T13:40:27.000Z" },
  {
    source: SWISS,
    frame: '\nCAC10064"*NULL"0000RC0FFDL1234#080027E62A64[70D7DC480FA7DC0DE428CE02447BA2E2981A161EA14CB780D2CD917208059E11\r',
    token: "NULL", encrypted: true, sequence: 0, receiver: "C0FFD", line: "1234", account: "080027E62A64", data: "", timestamp: "2015-06-22T13:43:09.000Z",
    key: "ABCDABCDABCDABCDABCDABCDABCDABCD", pad: [0x4c, 0xf8, 0x58, 0x8f, 0x49, 0x2e, 0xea, 0x78, 0xcf, 0xae],
  },
  {
    source: SWISS,
    frame: '\n6A1B0067"*NULL"0000RFEDCLBA98#0123456789ABCDEF[DB5596C05AEC0F9CA8A9647985418EE2A818ABFC6AC5444B9A154F75E4FAABEC\r',
    token: "NULL", encrypted: true, sequence: 0, receiver: "FEDC", line: "BA98", account: "0123456789ABCDEF", data: "", timestamp: "2015-06-29T14:55:44.000Z",
    key: "1234567890ABCDEF1234567890ABCDEF", pad: [0x50, 0xb4, 0x6b, 0xf3, 0x89, 0xb0, 0xef, 0x92, 0x6e, 0xd5],
  },
  {
    source: SWISS,
    frame: '\n7C37006b"SIA-DCS"0000RC0FFDL1234#080027E62A64[#080027E62A64|NHB0003][X115000][X115000][X115000]_13:53:11,06-22-2015\r',
    token: "SIA-DCS", encrypted: false, sequence: 0, receiver: "C0FFD", line: "1234", account: "080027E62A64", data: "#080027E62A64|NHB0003",
    extended: ["X115000", "X115000", "X115000"], timestamp: "2015-06-22T13:53:11.000Z",
  },
  { source: SWISS, frame: "\n52B5004c\"SIA-DCS\"0001L0#7777[#7777|Nri01^TOTAL^/LX901^centrale d'alarme JA-106K(R)^]\r", token: "SIA-DCS", encrypted: false, sequence: 1, line: "0", account: "7777", data: "#7777|Nri01^TOTAL^/LX901^centrale d'alarme JA-106K(R)^" },
  {
    source: SWISS,
    frame: '\nE88800a7"*SIA-DCS"0000RC0FFDL1234#080027E62A64[A054F111518361720BAB126501C6D994CD9151D2C84881C0FEA933A0790F49A9236EBD45F2AED32FAA252EB1AA18FC3CDEDE2452F33185E5931D31308D9B9882\r',
    token: "SIA-DCS", encrypted: true, sequence: 0, receiver: "C0FFD", line: "1234", account: "080027E62A64", data: "#080027E62A64|NHB0003", extended: ["E115000"],
    timestamp: "2015-06-22T15:12:40.000Z", key: "ABCDABCDABCDABCDABCDABCDABCDABCD", pad: [0x9a, 0x10, 0xd2, 0x86, 0xc0, 0x38, 0x46, 0x89, 0x52, 0xf7, 0xac, 0x09],
  },
  { source: FIOLETOVEN, frame: '\n96ED0016"SIA-DCS"0001L0#1234[]\r', token: "SIA-DCS", encrypted: false, sequence: 1, line: "0", account: "1234", data: "" },
  { source: FIOLETOVEN, frame: '\nE4410025"NAK"0000R0L0A0[]_16:20:01,09-24-2025\r', token: "NAK", encrypted: false, sequence: 0, receiver: "0", line: "0", account: "0", data: "", timestamp: "2025-09-24T16:20:01.000Z" },
  { source: FIOLETOVEN, frame: '\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r', token: "SIA-DCS", encrypted: false, sequence: 1, receiver: "F3", line: "77", account: "1234", data: "#1234|NRR|Atest" },
];

export const bytesOf = (frame: string): Buffer => Buffer.from(frame, "latin1");
