/**
 * A device-side failure. `code` is one of the documented error codes (DEVICE_ERROR, DEVICE_BUSY,
 * DEVICE_DISCONNECTED, DEVICE_TIMEOUT, PARAMS_INVALID, CANCELLED, ...); `retryable` says whether
 * trying the same command again may help.
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
