/**
 * A driver whose one function does nothing but note when the driver was called and when it
 * returned, so that the gap between one command and the next can be read off in this process.
 */
import { performance } from "node:perf_hooks";
import { setImmediate as nextTurn } from "node:timers/promises";
import { z } from "zod";
import { DeviceError } from "../src/drivers/device-error.js";
import type { DriverDefinition, FunctionSpec } from "../src/drivers/types.js";

export interface ProbeCall {
  device: string;
  /** performance.now() when `execute` was called. */
  start: number;
  /** performance.now() just before `execute` resolved. */
  end: number;
}

export interface Probe {
  definition: DriverDefinition;
  /** The calls recorded since the last take, in the order they ended. */
  take(): ProbeCall[];
}

export const probeDriverName = "bench-probe";
export const probeFunctionId = "tick";

const tick: FunctionSpec = {
  id: probeFunctionId,
  description: "Return at once, recording when it was called and when it returned.",
  params: z.object({}).strict(),
  outputs: {},
  idempotent: true,
  timeoutMs: 5_000,
  // A retry would hide a hand-over behind a backoff: fail instead.
  retry: { attempts: 1, backoffMs: 100 },
};

export function createProbe(): Probe {
  let calls: ProbeCall[] = [];
  const definition: DriverDefinition = {
    name: probeDriverName,
    description: "Benchmark probe: records the start and end of every command.",
    functions: [tick],
    create: (device) => {
      let inFlight = 0;
      return {
        deviceId: device.id,
        open: () => Promise.resolve(),
        close: () => Promise.resolve(),
        async execute(functionId) {
          const start = performance.now();
          if (functionId !== probeFunctionId) {
            throw new DeviceError("FUNCTION_UNKNOWN", `${device.id}: no function '${functionId}'`, false);
          }
          // Like the mock servo: a broken device lock must fail the run, not flatter the figures.
          if (inFlight >= device.capacity) {
            throw new DeviceError("DEVICE_BUSY", `${device.id}: ${inFlight} command(s) in flight`, false);
          }
          inFlight += 1;
          try {
            // One event-loop turn, as a real driver's I/O takes at least, so overlapping commands can meet.
            await nextTurn();
          } finally {
            inFlight -= 1;
          }
          calls.push({ device: device.id, start, end: performance.now() });
          return {};
        },
      };
    },
  };
  return {
    definition,
    take() {
      const taken = calls;
      calls = [];
      return taken;
    },
  };
}
