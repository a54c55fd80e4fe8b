import type { Principal } from "../access/index.js";

/**
 * MAX_STREAMS_PER_CLIENT: how many WebSocket and SSE streams one client may hold open at once in
 * this API process. A client is its credential's name when it has one, else its address (as for
 * RATE_LIMIT_PER_MIN). Each stream holds a socket, buffers and a follower; without a bound one
 * script could hold them all.
 */
export class StreamQuota {
  private readonly open = new Map<string, number>();

  constructor(readonly perClient: number) {}

  /** A place for one more stream of this client: its release (call once, when the stream ends), or null. */
  take(principal: Principal): (() => void) | null {
    const client = principal.via === "open" ? `address:${principal.address}` : `name:${principal.actor}`;
    const count = this.open.get(client) ?? 0;
    if (count >= this.perClient) return null;
    this.open.set(client, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(client) ?? 1) - 1;
      if (left > 0) this.open.set(client, left);
      else this.open.delete(client);
    };
  }

  /** The answer's message and Retry-After for a client at its limit. */
  refusal(principal: Principal) {
    const who = principal.via === "open" ? principal.address : principal.actor;
    return {
      message: `${who} holds ${this.perClient} open streams (WebSocket and SSE), the most this server allows one client (MAX_STREAMS_PER_CLIENT); close some first`,
      retryAfterS: 5,
    };
  }
}
