import type { SerialPortStream } from "@serialport/stream";

// @serialport/bindings-interface's own types cannot be resolved under NodeNext ("exports" hides
// them), so the binding types are taken from the stream that uses them.

/** A serialport binding: the platform's, the mock, or a wrapper of either. */
export type Binding = ConstructorParameters<typeof SerialPortStream>[0]["binding"];
export type BindingPort = Awaited<ReturnType<Binding["open"]>>;
export type BindingOpenOptions = Parameters<Binding["open"]>[0];
