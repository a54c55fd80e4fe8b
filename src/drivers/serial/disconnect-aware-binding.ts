import type { Binding, BindingOpenOptions, BindingPort } from "./binding-types.js";

/**
 * Wraps a serialport binding so that a read of zero bytes counts as a disconnect. The binding
 * interface promises every read at least one byte; on Linux, when the other end of a tty goes away
 * right after traffic, bindings-cpp instead spins on empty reads and never closes (its issue #162),
 * and the next write fails with EIO. Rejecting such a read makes the stream close with
 * `err.disconnected`, as it does for a clean unplug.
 */
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
