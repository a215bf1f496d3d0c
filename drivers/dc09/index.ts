/**
 * The DC-09 protocol layer, in one import: frames, encryption, answers,
 * Contact ID and SIA DCS data, receiver checks, and receive() which ties
 * them together. No I/O: the panic-receiver driver (issue 5) owns the
 * sockets. See README.md.
 */
export { CONTACT_ID_CODES, parseContactId } from "./contact-id.js";
export type { ContactIdCode } from "./contact-id.js";
export { decryptContent, encryptContent, padLength, parseKey, randomPad } from "./crypto.js";
export { DC09_ERROR_REASONS, Dc09Error } from "./errors.js";
export type { Dc09ErrorReason, FrameHeader } from "./errors.js";
export { ALARM_KINDS, ALARM_QUALIFIERS } from "./event.js";
export type { AlarmEvent, AlarmKind, AlarmProtocol, AlarmQualifier, EventMeaning } from "./event.js";
export {
  crc16,
  decodeFrame,
  encodeFrame,
  EVENT_TOKENS,
  formatTimestamp,
  MAX_BODY_BYTES,
  MAX_FRAME_BYTES,
  openFrame,
  parseFrame,
  parseTimestamp,
  RESPONSE_TOKENS,
} from "./frame.js";
export type { Dc09Frame, Dc09Token, EventToken, FrameInput, RawFrame, ResponseToken } from "./frame.js";
export { receive } from "./receive.js";
export type { ReceiveContext, ReceiveResult, ReceiverOptions } from "./receive.js";
export { buildAck, buildDuh, buildNak } from "./responses.js";
export type { AckOptions, RequestHeader } from "./responses.js";
export { parseSiaDcs, SIA_CODES } from "./sia-dcs.js";
export type { SiaCode } from "./sia-dcs.js";
export { FrameSplitter } from "./stream.js";
export type { SplitItem } from "./stream.js";
export { AccountPolicy, checkTimestamp, DEFAULT_TIMESTAMP_WINDOW, SequenceTracker } from "./validate.js";
export type { AccountConfig, SequenceEntry, SequenceTrackerOptions, TimestampCheck, TimestampWindow } from "./validate.js";
