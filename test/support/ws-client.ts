import WebSocket, { type ClientOptions } from "ws";

export type Message = Record<string, unknown> & { type: string };

/** A real `ws` client that keeps every message, so a test can wait for the one it needs. */
export class TestSocket {
  readonly messages: Message[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly listeners = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data) => {
      this.messages.push(JSON.parse((data as Buffer).toString()) as Message);
      for (const listener of this.listeners) listener();
    });
    this.closed = new Promise((resolve) =>
      socket.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static open(url: string, options: ClientOptions = {}): Promise<TestSocket> {
    const socket = new WebSocket(url, options);
    const client = new TestSocket(socket);
    return new Promise((resolve, reject) => {
      socket.once("open", () => resolve(client));
      socket.once("error", reject);
    });
  }

  send(message: unknown): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** Run events received (acks and errors left out), optionally of one run. */
  events(runId?: string): Message[] {
    return this.messages.filter(
      (m) => typeof m.event_id === "string" && (runId === undefined || m.run_id === runId),
    );
  }

  /** Resolves with the first message (received already or later) that matches. */
  waitFor(match: (message: Message) => boolean, timeoutMs = 15_000): Promise<Message> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.find(match);
        if (!found) return false;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`no matching message in ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`));
      }, timeoutMs);
      if (!check()) this.listeners.add(check);
    });
  }

  /** Resolves once `condition` holds, checked now and on every message. */
  async waitUntil(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
    if (condition()) return;
    await this.waitFor(() => condition(), timeoutMs);
  }

  errors(): Message[] {
    return this.messages.filter((m) => m.type === "error");
  }

  close(): void {
    this.socket.close();
  }
}

export const isRunEnd = (runId: string) => (m: Message) =>
  m.run_id === runId && ["pipeline_completed", "pipeline_error", "pipeline_cancelled"].includes(m.type);
