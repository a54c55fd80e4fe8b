// What Marlin's answers mean, read so that one garbled byte cannot turn one kind of answer into
// another: on a noisy line a framing error must never read as a fatal one, a resend request never
// as an `ok`, and a garbled `ok` should still count when nothing else could have been meant.

export type Reply =
  /** A line done: `ok`, ADVANCED_OK's `ok N12 P15 B3`, or `ok` with one letter garbled. */
  | { kind: "ok" }
  /** `ok T:21.5 /0.0 B:...`: M105's own answer, so the driver's prompt ran (and all before it). */
  | { kind: "report-ok" }
  /** `Resend: n`; `line` is undefined when its number was garbled. */
  | { kind: "resend"; line: number | undefined }
  /** `Error:checksum mismatch, Last Line: 4` and the like: a line was refused, a resend follows. */
  | { kind: "framing"; lastLine: number | undefined }
  /** `echo:Unknown command: "..."`, with what Marlin got (its checksum cut off, as Marlin does). */
  | { kind: "unknown"; quote: string }
  | { kind: "busy" }
  /** Any other `Error:` (halted, MINTEMP, thermal runaway...), in Marlin's words. */
  | { kind: "fatal"; message: string }
  | { kind: "other" };

/**
 * A received line cut where a garbled newline joined two of Marlin's lines: Marlin sends no control
 * characters, and a flipped `\n` becomes one (or a byte that decodes to U+FFFD) more often than not.
 */
export function splitGarbled(line: string): string[] {
  // An unknown command is quoted as Marlin got it, garbled bytes and all: only what follows the
  // closing quote can be another line.
  const quoted = nearPrefix(line, unknownPrefix) ? line.lastIndexOf('"') + 1 : 0;
  const parts = [line.slice(0, quoted)];
  for (const c of line.slice(quoted)) {
    if (garbledNewline(c.charCodeAt(0))) parts.push("");
    else parts[parts.length - 1] += c;
  }
  return parts.filter((part) => part !== "");
}

/** A control character (a tab aside), DEL, or what a byte that is not UTF-8 decodes to. */
const garbledNewline = (code: number) => (code < 0x20 && code !== 0x09) || code === 0x7f || code === 0xfffd;

export function classify(line: string): Reply {
  const ok = okKind(line);
  if (ok) return { kind: ok };
  // Both of these keep a word intact whatever single byte is garbled: "checksum" and "Last Line"
  // appear in every framing error, so it is never taken for a fatal one.
  if (/Last Line|checksum|Line Number/i.test(line)) {
    const last = /Last Line:\s*(-?\d+)$/.exec(line);
    return { kind: "framing", lastLine: last ? Number(last[1]) : undefined };
  }
  if (nearPrefix(line, "Resend:")) {
    const number = /^\s*(\d+)$/.exec(line.slice("Resend:".length));
    return { kind: "resend", line: number ? Number(number[1]) : undefined };
  }
  const rs = /^rs\s+N?(\d+)$/i.exec(line); // some builds and forks say `rs N12`
  if (rs) return { kind: "resend", line: Number(rs[1]) };
  if (nearPrefix(line, unknownPrefix)) {
    // Marlin quotes what it got between two `"`: either may be the garbled byte, so both go.
    return { kind: "unknown", quote: line.slice(unknownPrefix.length + 1, -1) };
  }
  if (nearPrefix(line, "echo:busy:")) return { kind: "busy" };
  if (nearPrefix(line, "Error:")) return { kind: "fatal", message: line.slice("Error:".length).trim() };
  return { kind: "other" };
}

const unknownPrefix = "echo:Unknown command: ";

/** `ok`, `ok T:...`, or neither; the `ok` itself may have one letter garbled. */
function okKind(line: string): "ok" | "report-ok" | undefined {
  if (line.length < 2 || !near(line.slice(0, 2), "ok")) return undefined;
  // `oj` alone is a garbled `ok`: Marlin sends no other line of two characters.
  if (line.length === 2) return "ok";
  if (line[0] !== "o" || line[1] !== "k" || line[2] !== " ") {
    // A garbled letter and more after it: too far from anything certain.
    return line[2] === " " && /:/.test(line) ? "report-ok" : undefined;
  }
  const rest = line.slice(3).trim();
  if (rest === "" || /^(N-?\d+\s+)?P\d+\s+B\d+$/.test(rest)) return "ok";
  // M105's answer has several `name:value` pairs; one garbled byte leaves at least one.
  return rest.includes(":") ? "report-ok" : undefined;
}

/** Whether `line` starts with `prefix` but for at most one character. */
function nearPrefix(line: string, prefix: string): boolean {
  return line.length >= prefix.length && near(line.slice(0, prefix.length), prefix);
}

/** Same length, at most `most` characters different. */
export function near(a: string, b: string, most = 1): boolean {
  if (a.length !== b.length) return false;
  let differences = 0;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) differences += 1;
  return differences <= most;
}
