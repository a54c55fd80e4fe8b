import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";

const acceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/**
 * A WebSocket client by hand over a plain TCP socket: it does the upgrade and then reads nothing
 * (beyond what Node's own socket buffer takes, 16 KiB) until `readToEnd`, so the server faces a
 * client that has truly stopped reading, with no library in between.
 */
export class RawWsClient {
  private constructor(
    readonly socket: Socket,
    private readonly afterHead: Buffer,
  ) {}

  static async open(port: number, path: string): Promise<RawWsClient> {
    const socket = connect(port, "127.0.0.1");
    const key = randomBytes(16).toString("base64");
    const expected = createHash("sha1").update(`${key}${acceptGuid}`).digest("base64");
    try {
      const { head, rest } = await new Promise<{ head: string; rest: Buffer }>((resolve, reject) => {
        let received = Buffer.alloc(0);
        const onData = (chunk: Buffer) => {
          received = Buffer.concat([received, chunk]);
          const end = received.indexOf("\r\n\r\n");
          if (end < 0) return;
          socket.off("data", onData);
          socket.pause();
          resolve({ head: received.subarray(0, end).toString(), rest: received.subarray(end + 4) });
        };
        socket.on("data", onData);
        socket.once("error", reject);
        socket.once("close", () => reject(new Error(`closed during the upgrade: ${received.toString()}`)));
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
      socket.removeAllListeners("close");
      socket.removeAllListeners("error");
      // A reset comes as an 'error'; readToEnd reports it.
      socket.on("error", () => undefined);
      if (!head.startsWith("HTTP/1.1 101") || !head.includes(`Sec-WebSocket-Accept: ${expected}`)) {
        throw new Error(`not upgraded: ${head}`);
      }
      return new RawWsClient(socket, rest);
    } catch (error) {
      socket.destroy();
      throw error;
    }
  }

  get localPort(): number {
    return this.socket.localPort ?? 0;
  }

  /** Starts reading, and resolves with every byte the server sent once the connection has ended. */
  readToEnd(): Promise<{ bytes: Buffer; error: Error | undefined }> {
    const chunks = [this.afterHead];
    let error: Error | undefined;
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve({ bytes: Buffer.concat(chunks), error });
      this.socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      this.socket.on("error", (cause: Error) => (error = cause));
      this.socket.once("close", () => resolve({ bytes: Buffer.concat(chunks), error }));
      this.socket.resume();
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface Frame {
  opcode: number;
  payload: Buffer;
}

/** Splits what a server sent into whole frames (servers never mask), and counts the bytes of a cut-off last one. */
export function parseFrames(bytes: Buffer): { frames: Frame[]; incompleteBytes: number } {
  const frames: Frame[] = [];
  let offset = 0;
  for (;;) {
    const left = bytes.length - offset;
    if (left < 2) break;
    const second = bytes[offset + 1] as number;
    if (second & 0x80) throw new Error(`a masked frame from the server at byte ${offset}`);
    let length = second & 0x7f;
    let head = 2;
    if (length === 126) {
      if (left < 4) break;
      length = bytes.readUInt16BE(offset + 2);
      head = 4;
    } else if (length === 127) {
      if (left < 10) break;
      length = Number(bytes.readBigUInt64BE(offset + 2));
      head = 10;
    }
    if (left < head + length) break;
    frames.push({
      opcode: (bytes[offset] as number) & 0x0f,
      payload: bytes.subarray(offset + head, offset + head + length),
    });
    offset += head + length;
  }
  return { frames, incompleteBytes: bytes.length - offset };
}

/**
 * The kernel's state of the IPv4 TCP connection from `localPort` to `remotePort` on this host, from
 * /proc/net/tcp (Linux): "01" established, "04" fin-wait-1 (closed by this end, data still
 * queued), ...; undefined when the kernel no longer lists it. Lets a test see that the server
 * closed a connection without the client reading anything.
 */
export function tcpState(localPort: number, remotePort: number): string | undefined {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, "0");
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const [, local, remote, state] = line.trim().split(/\s+/);
    if (local?.endsWith(`:${hex(localPort)}`) && remote?.endsWith(`:${hex(remotePort)}`)) return state;
  }
  return undefined;
}

export const tcpEstablished = "01";
