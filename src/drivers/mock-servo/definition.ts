import { z } from "zod";
import type { DriverDefinition, FunctionSpec } from "../types.js";
import { MockServo, mockServoOptions } from "./mock-servo.js";

const home: FunctionSpec = {
  id: "home",
  description: "Drive the servo to position 0 and mark it homed.",
  params: z.object({}).strict(),
  outputs: { complete: "true once the servo is at home", position: "the position reached (0)" },
  idempotent: true,
  pausable: true,
  timeoutMs: 30_000,
  retry: { attempts: 1, backoffMs: 500 },
};

const move: FunctionSpec = {
  id: "move",
  description: "Move to an absolute position; takes time in proportion to the distance.",
  params: z
    .object({
      position: z.number().describe("target position, within the servo's range"),
      speed: z.number().positive().optional().describe("units per second; the device's default if absent"),
    })
    .strict(),
  outputs: { complete: "true once the servo is at the target", position: "the position reached" },
  idempotent: true,
  pausable: true,
  timeoutMs: 60_000,
  retry: { attempts: 1, backoffMs: 500 },
};

const step: FunctionSpec = {
  id: "step",
  description:
    "Move by `delta` from wherever the servo is (a relative move, like a dispense): not idempotent, " +
    "so it is never repeated by itself after a crash.",
  params: z.object({ delta: z.number().describe("how far to move, either way") }).strict(),
  outputs: { complete: "true once the servo has moved", position: "the position reached" },
  idempotent: false,
  pausable: true,
  timeoutMs: 60_000,
  retry: { attempts: 1, backoffMs: 500 },
};

const status: FunctionSpec = {
  id: "status",
  description: "Report the current position at once, without moving.",
  params: z.object({}).strict(),
  outputs: { position: "the current position", homed: "whether the servo has been homed" },
  idempotent: true,
  timeoutMs: 5_000,
  retry: { attempts: 3, backoffMs: 100 },
};

export const mockServo: DriverDefinition = {
  name: "mock-servo",
  description: "A simulated servo: positions in a range, moves that take time, for demos and tests.",
  functions: [home, move, step, status],
  create: (device) => new MockServo(device.id, device.capacity, mockServoOptions.parse(device.options)),
};
