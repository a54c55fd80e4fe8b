/**
 * A driver whose one function waits `delay_ms` and returns the moment it returned, as a clock that
 * every process on the machine shares: so a process that receives the node_completed event can
 * tell how long the event took to reach it from the node's completion.
 */
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { DeviceError } from "../src/drivers/device-error.js";
import { waitOrAbort } from "../src/drivers/wait-or-abort.js";
import type { DeviceConfig, DriverDefinition, FunctionSpec } from "../src/drivers/types.js";

export const clockDriverName = "bench-clock";
export const clockFunctionId = "stamp";

/**
 * ms on the machine's clock, sub-ms precision. timeOrigin is sampled once per process from the
 * wall clock and now() runs on CLOCK_MONOTONIC: processes started seconds apart agree to a few µs
 * (checked: six processes, offsets within 3 µs), far below the latencies measured.
 */
export const machineMs = (): number => performance.timeOrigin + performance.now();

const stamp: FunctionSpec = {
  id: clockFunctionId,
  description: "Wait delay_ms, then return the machine clock at the moment of returning.",
  params: z.object({ delay_ms: z.number().int().min(0).max(10_000).default(0) }).strict(),
  outputs: { completed_at: "performance.timeOrigin + performance.now() when the function returned (ms)" },
  idempotent: true,
  timeoutMs: 15_000,
  retry: { attempts: 1, backoffMs: 100 },
};

export const clockDriver: DriverDefinition = {
  name: clockDriverName,
  description: "Benchmark clock: a command that returns when it completed.",
  functions: [stamp],
  create: (device) => ({
    deviceId: device.id,
    open: () => Promise.resolve(),
    close: () => Promise.resolve(),
    async execute(functionId, params, { signal }) {
      if (functionId !== clockFunctionId) {
        throw new DeviceError("FUNCTION_UNKNOWN", `${device.id}: no function '${functionId}'`, false);
      }
      const delay = typeof params.delay_ms === "number" ? params.delay_ms : 0;
      if (delay > 0 && (await waitOrAbort(delay, signal)) === "aborted") {
        throw new DeviceError("CANCELLED", `${device.id}: stamp cancelled`, false);
      }
      return { completed_at: machineMs() };
    },
  }),
};

export const clockDevice = (id: string): DeviceConfig => ({
  id,
  driver: clockDriverName,
  capacity: 1,
  options: {},
});
