import { z } from "zod";
import type { DriverDefinition, FunctionSpec } from "../types.js";
import { MarlinDriver } from "./marlin-driver.js";

const position = { x: "X in mm", y: "Y in mm", z: "Z in mm" };
const none = z.object({}).strict();

const functions: FunctionSpec[] = [
  {
    id: "home",
    description: "Home all axes (G28); afterwards the position is known.",
    params: none,
    outputs: { homed: "true", ...position },
    idempotent: true,
    timeoutMs: 120_000,
    retry: { attempts: 1, backoffMs: 1000 },
  },
  {
    id: "move",
    description:
      "Move to an absolute position (G0, or G1 at `feed`); done when the motion is finished (M400), not when queued.",
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
    timeoutMs: 300_000,
    retry: { attempts: 1, backoffMs: 1000 },
  },
  {
    id: "status",
    description: "Read the position (M114) and whether it is known (homed since connecting).",
    params: none,
    outputs: { homed: "whether the position is known", ...position },
    idempotent: true,
    timeoutMs: 5_000,
    retry: { attempts: 3, backoffMs: 200 },
  },
];

export const marlin: DriverDefinition = {
  name: "marlin",
  description:
    "Marlin G-code firmware (3D printers, and the lab robots and liquid handlers built on them) over a serial port.",
  functions,
  create: (device) => new MarlinDriver(device.id, device),
};
