// How Marlin 2.1 reads the serial line, after queue.cpp (get_serial_commands, process_stream_char,
// gcode_line_error, flush_and_request_resend) and parser.cpp (GCodeParser::parse), in the default
// configuration (no GCODE_CASE_INSENSITIVE, PAREN_COMMENTS or GCODE_QUOTED_STRINGS):
// - bytes gather into a line until `\n` or `\r`; `;` starts a comment to the end of the line, `\`
//   takes the next byte as it is, a backspace (0x08) erases a byte, a line past 96 bytes loses the
//   rest, and a NUL ends the C string the line is read as;
// - a line that starts with `N` is checked: its number must be the last + 1 (a line with `M110` in
//   it excepted, whose number is the one after the second `N`), then it needs a `*` and the XOR of
//   the bytes before the last `*`. A failure is answered `Error:<why>, Last Line: <last>`, bytes
//   already received are dropped (the RX buffer is drained), then `Resend: <last + 1>` and `ok`. A
//   repeated line (number <= last) is refused the same way: it never runs twice;
// - a line that does not start with `N` is taken unchecked: a line whose `N` was garbled runs as
//   whatever its first letter now says, which for every garbling of `N` is an unknown command.
// Lines are read while the command buffer (4 lines) has room, even during G28 or M400.

/** MAX_CMD_SIZE */
const maxCommandSize = 96;

export interface ReadCommand {
  /** The line as Marlin stored it (comments gone, checksum still on). */
  line: string;
  /** Its line number, when it was a checked numbered line. */
  n: number | undefined;
}

export interface ParsedCommand {
  /** What Marlin's parser points at (command_ptr): the line without its number and checksum. */
  text: string;
  /** `G0`, `M114`...; undefined when the parser found no G, M or T with a number. */
  code: string | undefined;
}

export class MarlinSerialInput {
  /** serial_state.last_N */
  lastN = 0;
  /** The next numbered line is refused for its checksum, however right it is. */
  failNextChecksum = false;
  private rx = "";
  private buffer = "";
  private skipping = false;
  private escaped = false;

  constructor(private readonly write: (text: string) => void) {}

  receive(bytes: string): void {
    this.rx += bytes;
  }

  /** Reads what has arrived into at most `room` commands (the free slots of the command buffer). */
  read(room: number): ReadCommand[] {
    const read: ReadCommand[] = [];
    while (read.length < room && this.rx.length > 0) {
      const c = this.rx[0] ?? "";
      this.rx = this.rx.slice(1);
      if (c !== "\n" && c !== "\r") {
        this.streamChar(c);
        continue;
      }
      const line = this.lineDone();
      if (line === "") continue;
      const checked = this.check(line);
      if (checked === "refused") continue;
      read.push({ line, n: checked });
    }
    return read;
  }

  private streamChar(c: string): void {
    if (this.skipping) return;
    if (this.escaped) this.escaped = false;
    else if (c === "\\") {
      this.escaped = true;
      return;
    } else if (c === ";") {
      this.skipping = true;
      return;
    }
    if (c === "\b") {
      this.buffer = this.buffer.slice(0, -1);
      return;
    }
    this.buffer += c;
    if (this.buffer.length >= maxCommandSize - 1) this.skipping = true;
  }

  private lineDone(): string {
    const nul = this.buffer.indexOf("\0");
    const line = nul === -1 ? this.buffer : this.buffer.slice(0, nul);
    this.buffer = "";
    this.skipping = this.escaped = false;
    return line;
  }

  /** The line's number when it is numbered and right, undefined when not numbered. */
  private check(line: string): number | undefined | "refused" {
    const command = line.replace(/^ +/, "");
    if (!command.startsWith("N")) return undefined;
    const m110 = command.includes("M110");
    const second = m110 ? command.indexOf("N", 4) : -1;
    const n = strtol(command.slice((second === -1 ? 0 : second) + 1));
    if (n !== this.lastN + 1 && !m110)
      return this.refuse("Line Number is not Last Line Number+1, Last Line: ");
    const star = command.lastIndexOf("*");
    if (star === -1) return this.refuse("No Checksum with line number, Last Line: ");
    const forced = this.failNextChecksum;
    this.failNextChecksum = false;
    if (forced || strtol(command.slice(star + 1)) !== checksum(command.slice(0, star))) {
      return this.refuse("checksum mismatch, Last Line: ");
    }
    this.lastN = n;
    return n;
  }

  /** gcode_line_error(): the error, the RX buffer drained, then flush_and_request_resend(). */
  private refuse(why: string): "refused" {
    this.write(`Error:${why}${this.lastN}\n`);
    this.rx = "";
    this.write(`Resend: ${this.lastN + 1}\nok\n`);
    return "refused";
  }
}

/** GCodeParser::parse, as far as finding the command goes. */
export function parseCommand(line: string): ParsedCommand {
  let p = line.replace(/^ +/, "");
  if (p[0] === "N" && /[-+0-9]/.test(p[1] ?? ""))
    p = p
      .slice(2)
      .replace(/^[0-9]*/, "")
      .replace(/^ */, "");
  const star = p.indexOf("*", 1);
  if (star !== -1) p = p.slice(0, star).replace(/ +$/, "");
  const head = /^([GMT]) *(\d+)/.exec(p);
  return { text: p, code: head ? `${head[1]}${Number(head[2])}` : undefined };
}

/** Marlin's checksum: the XOR of every byte before the '*'. */
export function checksum(text: string): number {
  let cs = 0;
  for (const byte of Buffer.from(text, "latin1")) cs ^= byte;
  return cs;
}

/** C's strtol(text, nullptr, 10): leading spaces, a sign, digits; 0 when there are none. */
function strtol(text: string): number {
  const match = /^\s*([-+]?\d+)/.exec(text);
  return match ? Number(match[1]) : 0;
}
