/** The API answered with an error, in the contract's shape `{"error": {code, message, details}}`. */
export class ApiError extends Error {
  override readonly name = "ApiError";

  constructor(
    /** The HTTP status, or 0 for an error event on the WebSocket. */
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The API could not be reached at all (refused, unknown host, no answer, connection lost for good). */
export class ApiUnreachableError extends Error {
  override readonly name = "ApiUnreachableError";
}
