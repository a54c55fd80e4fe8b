import type { ErrorCode } from "./codes.js";

/**
 * The one error class of the domain (the seed's planned PipelineException/DeviceException, as
 * codes): a documented code, a message a user can act on, details naming the node, edge or field
 * concerned, and whether trying again may help.
 */
export class RigflowError extends Error {
  override readonly name = "RigflowError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly retryable = false,
  ) {
    super(message);
  }
}

export const isRigflowError = (value: unknown): value is RigflowError => value instanceof RigflowError;
