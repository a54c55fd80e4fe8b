import { expect } from "vitest";
import { DeviceError } from "../../../src/drivers/device-error.js";
import type { Driver } from "../../../src/drivers/types.js";

/** Runs one driver function, keeping the progress it reports. */
export function run(
  driver: Driver,
  functionId: string,
  params: Record<string, unknown> = {},
  signal = new AbortController().signal,
): { done: Promise<Record<string, unknown>>; progress: number[] } {
  const progress: number[] = [];
  const done = driver.execute(functionId, params, {
    signal,
    progress: (fraction) => progress.push(fraction),
  });
  return { done, progress };
}

/** The DeviceError a call fails with (and fails the test if it succeeds or throws anything else). */
export async function failure(promise: Promise<unknown>): Promise<DeviceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DeviceError);
  return error as DeviceError;
}
