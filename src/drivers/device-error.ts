/**
 * A device-side failure. `code` is one of the documented error codes (DEVICE_ERROR, DEVICE_BUSY,
 * DEVICE_DISCONNECTED, DEVICE_TIMEOUT, PARAMS_INVALID, CANCELLED, ...); `retryable` says whether
 * trying the same command again may help: false when the device refused the command itself (an
 * alarm, a move out of range). The engine never retries some codes (PARAMS_INVALID,
 * FUNCTION_UNKNOWN, CANCELLED, ...), whatever `retryable` says.
 */
export class DeviceError extends Error {
  override readonly name = "DeviceError";
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
