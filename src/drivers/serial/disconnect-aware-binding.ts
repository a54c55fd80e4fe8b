import { read } from "node:fs";
import { promisify } from "node:util";
import { LinuxPortBinding } from "@serialport/bindings-cpp";
import { unixRead } from "@serialport/bindings-cpp/dist/unix-read.js";
import type { Binding, BindingOpenOptions, BindingPort } from "./binding-types.js";

const readAsync = promisify(read);

/**
 * A read of zero bytes from a tty is a hang-up: the other end is gone. bindings-cpp's unixRead
 * takes it for "nothing yet" and reads again, so on Linux, when a device goes away right after
 * traffic, the port spins on empty reads and never closes (bindings-cpp issue #162), and the next
 * write fails with EIO. This reads through unixRead with a read that calls zero bytes a disconnect,
 * so the stream closes with `err.disconnected`, as on a clean unplug.
 */
const readOrHangUp: typeof readAsync = async (...args: Parameters<typeof readAsync>) => {
  const result = await readAsync(...args);
  if (result.bytesRead === 0) {
    throw Object.assign(new Error("the device went away (a read returned no bytes)"), { disconnect: true });
  }
  return result;
};

/** Wraps a serialport binding so that its ports treat a zero-byte read as a disconnect. */
export function disconnectAware(binding: Binding): Binding {
  return {
    list: () => binding.list(),
    async open(options: BindingOpenOptions) {
      return wrapPort(await binding.open(options));
    },
  };
}

function wrapPort(port: BindingPort): BindingPort {
  return {
    get openOptions() {
      return port.openOptions;
    },
    get isOpen() {
      return port.isOpen;
    },
    close: () => port.close(),
    async read(buffer: Buffer, offset: number, length: number) {
      if (port instanceof LinuxPortBinding && port.isOpen) {
        return unixRead({ binding: port, buffer, offset, length, fsReadAsync: readOrHangUp });
      }
      const result = await port.read(buffer, offset, length);
      if (result.bytesRead === 0) {
        throw Object.assign(new Error("the device went away (a read returned no bytes)"), {
          disconnected: true,
        });
      }
      return result;
    },
    write: (buffer: Buffer) => port.write(buffer),
    update: (options: Parameters<BindingPort["update"]>[0]) => port.update(options),
    set: (options: Parameters<BindingPort["set"]>[0]) => port.set(options),
    get: () => port.get(),
    getBaudRate: () => port.getBaudRate(),
    flush: () => port.flush(),
    drain: () => port.drain(),
  };
}
