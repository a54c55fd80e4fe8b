import { z } from "zod";
import type { DriverDefinition, FunctionSpec } from "../types.js";
import { GrblDriver } from "./grbl-driver.js";

const position = { x: "machine X in mm", y: "machine Y in mm", z: "machine Z in mm" };
const none = z.object({}).strict();

const functions: FunctionSpec[] = [
  {
    id: "home",
    description: "Run the homing cycle ($H); afterwards the position is known.",
    params: none,
    outputs: { homed: "true", ...position },
    idempotent: true,
    timeoutMs: 120_000,
    retry: { attempts: 1, backoffMs: 1000 },
  },
  {
    id: "move",
    description: "Move to an absolute position (G0, or G1 at `feed`); done when GRBL reports Idle.",
    params: z
      .object({
        x: z.number().optional(),
        y: z.number().optional(),
        z: z.number().optional(),
        feed: z.number().positive().optional().describe("mm/min; a rapid (G0) move if absent"),
      })
      .strict(),
    outputs: position,
    idempotent: true,
    pausable: true,
    timeoutMs: 300_000,
    retry: { attempts: 1, backoffMs: 1000 },
  },
  {
    id: "status",
    description: "Read the machine state and position (a `?` status report).",
    params: none,
    outputs: { state: "Idle, Run, Hold, Alarm, ...", homed: "whether the position is known", ...position },
    idempotent: true,
    timeoutMs: 5_000,
    retry: { attempts: 3, backoffMs: 200 },
  },
  {
    id: "unlock",
    description: "Leave the alarm state without homing ($X); the position may be wrong.",
    params: none,
    outputs: { unlocked: "true" },
    idempotent: true,
    timeoutMs: 5_000,
    retry: { attempts: 1, backoffMs: 500 },
  },
  {
    id: "stop",
    description: "Feed hold and soft reset: stop all motion now and drop what is queued.",
    params: none,
    outputs: { stopped: "true" },
    idempotent: true,
    timeoutMs: 5_000,
    retry: { attempts: 2, backoffMs: 200 },
  },
];

export const grbl: DriverDefinition = {
  name: "grbl",
  description: "GRBL 1.1 motion controllers (CNC stages, laser cutters) over a serial port.",
  functions,
  create: (device) => new GrblDriver(device.id, device),
};
