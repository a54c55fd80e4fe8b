export interface Position {
  x: number;
  y: number;
  z: number;
}

/**
 * Parses an M114 answer such as `X:10.00 Y:5.00 Z:0.00 E:0.00 Count X:800 Y:400 Z:0`: the
 * position before `Count` (where Marlin will be once the queued moves are done; the stepper counts
 * after it are left out). Returns undefined for any other line.
 */
export function parsePosition(line: string): Position | undefined {
  const match = /^X:\s*(-?[\d.]+)\s+Y:\s*(-?[\d.]+)\s+Z:\s*(-?[\d.]+)/.exec(line.trim());
  if (!match) return undefined;
  const [, x, y, z] = match;
  const position = { x: Number(x), y: Number(y), z: Number(z) };
  return Object.values(position).every(Number.isFinite) ? position : undefined;
}
