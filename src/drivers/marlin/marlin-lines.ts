// Marlin's line framing: `N<n> <gcode>*<checksum>`, and the answers the host reads back.

/** Marlin's checksum: the XOR of every byte of the line before the `*`. */
export function checksum(text: string): number {
  let cs = 0;
  for (const byte of Buffer.from(text, "latin1")) cs ^= byte;
  return cs;
}

/** `N<n> <gcode>*<cs>`, as Marlin checks it when a line carries a number. */
export function numbered(n: number, gcode: string): string {
  const body = `N${n} ${gcode}`;
  return `${body}*${checksum(body)}`;
}

/** `ok`, `ok N12`, `ok T:21.0 /0.0 ...`: Marlin accepted (or finished) one line. */
export const isOk = (line: string): boolean => /^ok\b/.test(line);

/** `echo:busy: processing` (or `paused for user`): Marlin is alive and still on a blocking command. */
export const isBusy = (line: string): boolean => /^echo:\s*busy:/.test(line);

/** The number in `Resend: 12` (or `rs N12`, as some builds say), else undefined. */
export function parseResend(line: string): number | undefined {
  const match = /^(?:Resend:\s*|rs\s+N?)(\d+)/i.exec(line);
  return match ? Number(match[1]) : undefined;
}

/** An `Error:` line about framing (bad checksum, wrong line number): Marlin follows it with `Resend:`. */
export const isFramingError = (line: string): boolean => /^Error:.*Last Line:/i.test(line);

/** Any other `Error:` line (halted, MINTEMP, thermal runaway, ...), with Marlin's words, else undefined. */
export function parseError(line: string): string | undefined {
  const match = /^Error:\s*(.*)$/i.exec(line);
  return match && !isFramingError(line) ? match[1] : undefined;
}

/** The command in `echo:Unknown command: "M999"`, else undefined. */
export function parseUnknownCommand(line: string): string | undefined {
  const match = /^echo:\s*Unknown command:\s*"?(.*?)"?\s*$/i.exec(line);
  return match ? match[1] : undefined;
}
