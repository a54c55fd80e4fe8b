/** GRBL's machine states, as its status reports name them. */
export type GrblState = "Idle" | "Run" | "Hold" | "Jog" | "Alarm" | "Door" | "Check" | "Home" | "Sleep";

export interface GrblStatus {
  state: GrblState;
  /** The sub-state after a colon, if any: `Hold:1` is still decelerating, `Hold:0` has stopped. */
  sub: number | undefined;
  /** Machine position in mm. */
  position: { x: number; y: number; z: number };
}

/**
 * Parses a status report such as `<Idle|MPos:1.000,2.000,0.000|FS:0,0>`. A report with WPos
 * instead of MPos (`$10` setting) is read the same way; the fields after the position (FS, Pn,
 * WCO, Ov) are not needed. Returns undefined for anything else.
 */
export function parseStatus(line: string): GrblStatus | undefined {
  const match = /^<([A-Za-z]+)(?::(\d+))?\|(?:MPos|WPos):(-?[\d.]+),(-?[\d.]+),(-?[\d.]+)/.exec(line.trim());
  if (!match) return undefined;
  const [, state, sub, x, y, z] = match;
  return {
    state: state as GrblState,
    sub: sub === undefined ? undefined : Number(sub),
    position: { x: Number(x), y: Number(y), z: Number(z) },
  };
}
