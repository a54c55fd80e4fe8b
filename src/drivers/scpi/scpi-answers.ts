// Parsing of what an SCPI instrument answers: `SYST:ERR?` entries, `*IDN?` and numbers in SCPI's
// NR1/NR2/NR3 formats (`+1.23450000E+00`). Pure functions, so they are easy to test and to reuse.

export interface ScpiErrorEntry {
  /** 0 is "No error"; negative codes are SCPI's standard ones, positive ones the instrument's. */
  code: number;
  message: string;
}

/**
 * Parses one `SYST:ERR?` answer, such as `-113,"Undefined header"` or `+0,"No error"`. Some
 * instruments add detail after a semicolon inside the quotes (`-222,"Data out of range;VOLT"`):
 * it is kept. Returns undefined for anything else.
 */
export function parseErrorEntry(line: string): ScpiErrorEntry | undefined {
  const match = /^\s*([+-]?\d+)\s*,\s*"((?:[^"]|"")*)"\s*$/.exec(line);
  if (!match) return undefined;
  const [, code, message] = match;
  return { code: Number(code), message: (message ?? "").replace(/""/g, '"') };
}

export interface ScpiIdentity {
  manufacturer: string;
  model: string;
  serial: string;
  firmware: string;
}

/** Parses an `*IDN?` answer: four comma-separated fields (the firmware field may hold commas). */
export function parseIdentity(line: string): ScpiIdentity | undefined {
  const fields = line.split(",").map((field) => field.trim());
  if (fields.length < 4 || !fields[0] || !fields[1]) return undefined;
  const [manufacturer = "", model = "", serial = "", ...firmware] = fields;
  return { manufacturer, model, serial, firmware: firmware.join(",") };
}

/** SCPI's "overload" (9.9E37) and "not a number" (9.91E37) markers. */
export const SCPI_OVERLOAD = 9.9e37;
export const SCPI_NAN = 9.91e37;

/** Parses a decimal number as SCPI writes it (NR1, NR2 or NR3), or undefined for anything else. */
export function parseScpiNumber(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}
