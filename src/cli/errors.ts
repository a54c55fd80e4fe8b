/** The command line was wrong (unknown command or option, missing argument, unreadable file): exit 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

// The API's errors are the client's (src/client), which the CLI is built on.
export { ApiError, ApiUnreachableError } from "../client/errors.js";
