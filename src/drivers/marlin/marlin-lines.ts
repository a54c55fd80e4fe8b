// Marlin's line framing: `N<n> <gcode>*<checksum>`. Its answers, garbled or not: marlin-replies.ts.

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
