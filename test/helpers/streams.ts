/** A writable stream that keeps what is written to it: a command's stdout or stderr, in process. */
import { Writable } from "node:stream";

export function sink(): { stream: Writable; text: () => string; lines: () => string[] } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => text, lines: () => text.split("\n").filter((l) => l !== "") };
}
