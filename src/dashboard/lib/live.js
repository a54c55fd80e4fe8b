// A WebSocket to /ws that follows one run (or every run) and survives reconnects: following a run,
// it asks for the events after the last one it saw (`after=`), so nothing is missed or repeated.
import { wsUrl } from "./api.js";

function compareIds(a, b) {
  const [aMs, aSeq] = a.split("-").map(BigInt);
  const [bMs, bSeq] = b.split("-").map(BigInt);
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  return aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}

export class LiveEvents {
  /**
   * @param {{runId?: string, onEvent: (event: any) => void, onState?: (state: string) => void,
   *   onError?: (error: {code: string, message: string}) => void}} options
   */
  constructor(options) {
    this.options = options;
    this.lastId = undefined;
    this.socket = undefined;
    this.stopped = false;
    this.retryMs = 500;
    this.timer = undefined;
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.close(1000, "page left");
  }

  connect() {
    const { runId } = this.options;
    // Following a run, replay it from its first event ("0-0") or from the last one seen.
    const query = runId ? { run_id: runId, after: this.lastId ?? "0-0" } : {};
    const socket = new WebSocket(wsUrl(query));
    this.socket = socket;
    this.setState("connecting");
    socket.addEventListener("open", () => {
      // Following a run, the connection counts as good only once subscribed (see receive()).
      if (!runId) {
        this.retryMs = 500;
        this.setState("live");
      }
    });
    socket.addEventListener("message", (message) => this.receive(message.data, socket));
    socket.addEventListener("close", () => {
      if (this.stopped || this.socket !== socket) return;
      this.setState("reconnecting");
      this.timer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    });
  }

  receive(data, socket) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (event.type === "subscribed") {
      this.retryMs = 500;
      return this.setState("live");
    }
    if (event.type === "unsubscribed") return;
    if (event.type === "error") {
      // Redis not answering is passing: drop this connection and take the reconnect path, which
      // subscribes again with after= the last event seen, as after any other drop.
      if (event.error?.code === "REDIS_UNAVAILABLE") return socket.close(4000, "Redis unavailable; retrying");
      return this.options.onError?.(event.error);
    }
    if (typeof event.event_id === "string") {
      if (this.options.runId && this.lastId && compareIds(event.event_id, this.lastId) <= 0) return;
      this.lastId = event.event_id;
    }
    this.options.onEvent(event);
  }

  setState(state) {
    this.options.onState?.(state);
  }
}
