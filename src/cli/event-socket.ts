import WebSocket from "ws";
import { apiError, reasonOf, type ApiClient } from "../client/http-client.js";
import { ApiError, ApiUnreachableError } from "./errors.js";
import { compareEventIds, type RunEvent } from "./wire.js";

export interface SocketHandlers {
  /** A run event, replayed or live, each exactly once and in order. */
  event(event: RunEvent): void;
  /** The subscription is live: everything up to now has been delivered. */
  live(): void;
  /** The connection dropped (said once per outage); reconnects, replaying from the last event, follow. */
  lost(reason: string): void;
  /** The socket cannot go on: an error from the API, or no reconnect for `reconnectForMs`. */
  fatal(error: Error): void;
}

export interface SocketOptions {
  /** Replays the run's events after this event_id ("0-0": all of them), then goes live. */
  after: string;
  /** How long to keep trying to reconnect before giving up. */
  reconnectForMs?: number;
  /** A connection that hears nothing (the server pings every 15 s) for this long is dropped. */
  silenceMs?: number;
}

/**
 * Follows one run over /ws with the contract's catch-up: it subscribes with `after` = the last
 * event_id it has seen, so a dropped connection is resumed with no gap and no duplicate.
 */
export class RunEventSocket {
  private lastId: string;
  private socket: WebSocket | null = null;
  private stopped = false;
  private lostSince: number | null = null;
  private retries = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  private readonly reconnectForMs: number;
  private readonly silenceMs: number;

  constructor(
    private readonly api: ApiClient,
    private readonly runId: string,
    private readonly handlers: SocketHandlers,
    options: SocketOptions,
  ) {
    this.lastId = options.after;
    this.reconnectForMs = options.reconnectForMs ?? 60_000;
    this.silenceMs = options.silenceMs ?? 45_000;
  }

  open(): void {
    if (this.stopped) return;
    const socket = new WebSocket(this.api.socketUrl({ run_id: this.runId, after: this.lastId }), {
      headers: this.api.authHeaders(),
      handshakeTimeout: 10_000,
    });
    this.socket = socket;
    let done = false;
    // Whatever ends this connection ('close', 'error', a refused upgrade), it is handled once.
    const drop = (reason: string) => {
      if (done) return;
      done = true;
      this.clearSilence();
      socket.removeAllListeners();
      socket.on("error", () => undefined);
      socket.terminate();
      this.reconnect(reason);
    };
    // A half-open connection (a cable pulled, a NAT timing out) says nothing: hearing nothing, not
    // even the server's ping, for silenceMs counts as a drop.
    const heard = () => {
      this.clearSilence();
      this.silenceTimer = setTimeout(
        () => drop(`no word from the API in ${this.silenceMs / 1000} s`),
        this.silenceMs,
      );
    };
    socket.on("open", heard);
    socket.on("ping", heard);
    socket.on("message", (data) => {
      heard();
      const text = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      this.receive(text.toString(), drop);
    });
    socket.on("unexpected-response", (_request, response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => {
        const status = response.statusCode ?? 0;
        const error = apiError(status, response.statusMessage ?? "", body);
        // Refused for good (a bad token, say): say so. A 5xx (a restarting API, a proxy) passes.
        if (status >= 400 && status < 500) this.fail(error);
        else drop(error.message);
      });
      response.on("error", (error) => drop(reasonOf(error)));
    });
    socket.on("error", (error) => drop(reasonOf(error)));
    socket.on("close", (code, reason) => drop(closeReason(code, reason.toString())));
  }

  close(): void {
    this.stopped = true;
    this.clearSilence();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const socket = this.socket;
    if (socket) {
      socket.removeAllListeners();
      socket.on("error", () => undefined);
      socket.close();
      // A server that does not answer the close handshake is not waited for.
      setTimeout(() => socket.terminate(), 1000).unref();
    }
  }

  private receive(text: string, drop: (reason: string) => void): void {
    if (this.stopped) return;
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return; // not ours to judge: the contract sends JSON only
    }
    if (message.type === "error") {
      const { code, message: words, details } = (message.error ?? {}) as Record<string, unknown>;
      // Redis not answering is passing, not the API's last word: this connection is dropped and the
      // usual reconnect follows (said once, given up after reconnectForMs), with after= the last event.
      if (code === "REDIS_UNAVAILABLE") {
        return drop(typeof words === "string" ? words : "Redis does not answer");
      }
      this.fail(
        new ApiError(
          0,
          typeof code === "string" ? code : "WS_ERROR",
          typeof words === "string" ? words : "the WebSocket answered with an error",
          details !== null && typeof details === "object" ? (details as Record<string, unknown>) : {},
        ),
      );
      return;
    }
    if (message.type === "subscribed") {
      this.lostSince = null;
      this.retries = 0;
      this.handlers.live();
      return;
    }
    const id = message.event_id;
    if (typeof id !== "string" || message.run_id !== this.runId) return;
    if (compareEventIds(id, this.lastId) <= 0) return; // seen already, before a reconnect
    this.lastId = id;
    this.handlers.event(message as unknown as RunEvent);
  }

  private reconnect(reason: string): void {
    if (this.stopped) return;
    const now = Date.now();
    if (this.lostSince === null) {
      this.lostSince = now;
      this.handlers.lost(reason);
    }
    if (now - this.lostSince > this.reconnectForMs) {
      return this.fail(
        new ApiUnreachableError(
          `lost the connection to the Rigflow API at ${this.api.target.baseUrl} and could not get it back in ${this.reconnectForMs / 1000} s: ${reason}`,
        ),
      );
    }
    const delay = Math.min(3000, 100 * 2 ** this.retries);
    this.retries += 1;
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private fail(error: Error): void {
    if (this.stopped) return;
    this.close();
    this.handlers.fatal(error);
  }

  private clearSilence(): void {
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.silenceTimer = null;
  }
}

function closeReason(code: number, reason: string): string {
  if (code === 1001) return "the API is shutting down";
  return `closed with ${code}${reason ? `: ${reason}` : ""}`;
}
