import { DeviceError } from "./device-error.js";

/**
 * A driver's functions, one at a time and whole: a promise-chain mutex, so the exchanges of two
 * functions never interleave on the wire even if a caller asks for both at once. A signal that
 * aborts while a function waits its turn rejects it at once with CANCELLED, and it never runs.
 */
export class OneAtATime {
  private turn: Promise<void> = Promise.resolve();

  /** `waitingFor` names the device in a cancel's message: "the instrument", "the machine". */
  constructor(
    private readonly deviceId: string,
    private readonly waitingFor: string,
  ) {}

  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const before = this.turn;
    this.turn = before.then(() => mine);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        release();
        reject(
          new DeviceError(
            "CANCELLED",
            `${this.deviceId}: cancelled while waiting for ${this.waitingFor}`,
            false,
          ),
        );
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      void before.then(() => {
        signal?.removeEventListener("abort", onAbort);
        if (signal?.aborted) return;
        void task().then(resolve, reject).finally(release);
      });
    });
  }
}
