// A simple SCPI bench multimeter on the device end of a pty pair (see pty-pair.ts), for driver
// tests. What it simulates, in short:
// - lines end with "\n" ("\r\n" too); headers match in short or long form, any case, with an
//   optional leading ':' (`MEAS:VOLT:DC?`, `measure:voltage:dc?`);
// - `*IDN?`, `*RST`, `*CLS` (clears the error queue), `*OPC?`, `SYST:ERR?` (pops the queue, else
//   `0,"No error"`), `MEAS:VOLT:DC?` `MEAS:VOLT:AC?` `MEAS:CURR:DC?` `MEAS:RES?` (optional range and
//   resolution parameters: a number, DEF, MIN, MAX or AUTO), `CONF:...` (accepted, and sets what
//   `READ?` measures), `READ?`;
// - as a real instrument, it answers nothing to a bad line: an unknown header queues
//   `-113,"Undefined header"`, a bad parameter `-224,"Illegal parameter value"`; the queue holds 20
//   entries, the last then becoming `-350,"Queue overflow"`.
// - `overlaps`: lines that arrived while the answer to an earlier query was still to be sent (during
//   a delayAnswers() delay, as during a slow measurement).
// Not simulated: compound messages (`;`), status registers, triggering, binary blocks.
import { SerialPort } from "serialport";

export type DmmQuantity = "voltage_dc" | "voltage_ac" | "current_dc" | "resistance";

export interface ScpiSimulatorOptions {
  /** The `*IDN?` answer. Default "RIGFLOW,DMM-1000,SN0001,1.0". */
  identity?: string;
  /** The readings, by quantity. */
  values?: Partial<Record<DmmQuantity, number>>;
}

export interface ReceivedLine {
  line: string;
  at: number;
}

/** A line that arrived while the answer to an earlier query had not been sent yet. */
export interface OverlappingLine extends ReceivedLine {
  /** The query still waiting for its answer (the oldest, if several). */
  after: ReceivedLine;
  /** How many answers were still to be sent. */
  pendingAnswers: number;
}

export interface ScpiErrorEntry {
  code: number;
  message: string;
}

export const DMM_IDENTITY = "RIGFLOW,DMM-1000,SN0001,1.0";
const defaultValues: Record<DmmQuantity, number> = {
  voltage_dc: 1.2345,
  voltage_ac: 0.2301,
  current_dc: 0.0125,
  resistance: 1000.5,
};
const queueSize = 20;

/** Milliseconds since the epoch, monotonic and sub-millisecond, as used in `commands[].at`. */
const clock = (): number => performance.timeOrigin + performance.now();

/** `-1.2345E+00`: SCPI's NR3 with five significant digits, as many DMMs print it. */
export function formatReading(value: number): string {
  const [mantissa = "0", exponent = "0"] = value.toExponential(4).toUpperCase().split("E");
  const power = Number(exponent);
  return `${mantissa}E${power < 0 ? "-" : "+"}${String(Math.abs(power)).padStart(2, "0")}`;
}

/**
 * Does `header` (as received) match `pattern`, written in SCPI's notation: the upper-case letters
 * of each node are its short form, the whole node its long form, `[NODE]` an optional node, and a
 * final `?` makes it a query.
 */
function matches(header: string, pattern: string): boolean {
  if (header.endsWith("?") !== pattern.endsWith("?")) return false;
  const given = header.replace(/\?$/, "").replace(/^:/, "").toUpperCase().split(":");
  const nodes = pattern
    .replace(/\?$/, "")
    .split(":")
    .map((node) => {
      const bare = node.replace(/[[\]]/g, "");
      return { optional: node.startsWith("["), long: bare.toUpperCase(), short: bare.replace(/[a-z]/g, "") };
    });
  const walk = (g: number, n: number): boolean => {
    const node = nodes[n];
    if (!node) return g === given.length;
    const word = given[g];
    if ((word === node.long || word === node.short) && walk(g + 1, n + 1)) return true;
    return node.optional && walk(g, n + 1);
  };
  return walk(0, 0);
}

const measurements: { pattern: string; quantity: DmmQuantity }[] = [
  { pattern: "MEASure:VOLTage:[DC]?", quantity: "voltage_dc" },
  { pattern: "MEASure:VOLTage:AC?", quantity: "voltage_ac" },
  { pattern: "MEASure:CURRent:[DC]?", quantity: "current_dc" },
  { pattern: "MEASure:RESistance?", quantity: "resistance" },
];
const configurations: { pattern: string; quantity: DmmQuantity }[] = measurements.map(
  ({ pattern, quantity }) => ({
    pattern: pattern.replace("MEASure", "CONFigure").replace(/\?$/, ""),
    quantity,
  }),
);

export class ScpiSimulator {
  /** Opens `devicePath` (the pty pair's device end); the meter is then on and listening. */
  static async start(devicePath: string, options: ScpiSimulatorOptions = {}): Promise<ScpiSimulator> {
    const port = new SerialPort({ path: devicePath, baudRate: 9600, autoOpen: false });
    const simulator = new ScpiSimulator(port, options);
    try {
      await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    } catch (error) {
      await simulator.close();
      throw error;
    }
    return simulator;
  }

  /** Every line received, with the time its end arrived (lines received while silenced are lost). */
  readonly commands: ReceivedLine[] = [];
  /** Everything written to the host, with times. */
  readonly sent: { text: string; at: number }[] = [];
  /** The last error the port reported (a write after an unplug, for instance). */
  lastError: Error | undefined;
  /**
   * Lines (any non-empty line) that arrived while an earlier query's answer was still to be sent:
   * a host that waits for each answer, as the driver does, never causes one.
   */
  readonly overlapping: OverlappingLine[] = [];
  /** What `READ?` measures; set by `CONF:...`, voltage_dc after `*RST`. */
  configured: DmmQuantity = "voltage_dc";

  private readonly queue: ScpiErrorEntry[] = [];
  private readonly values: Record<DmmQuantity, number>;
  private readonly identity: string;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Queries whose answers are delayed and not sent yet, oldest first. */
  private readonly unanswered: ReceivedLine[] = [];
  /** The line being run, which an answer answers. */
  private current: ReceivedLine | undefined;
  private received = "";
  private silent = false;
  private junk: string | undefined;
  private answerDelayMs = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly port: SerialPort,
    options: ScpiSimulatorOptions,
  ) {
    this.identity = options.identity ?? DMM_IDENTITY;
    this.values = { ...defaultValues, ...options.values };
    // Listeners first: an unplugged pty must never crash the test process.
    port.on("error", (error) => (this.lastError = error));
    port.on("close", () => this.clearTimers());
    port.on("data", (chunk: Buffer) => {
      if (!this.silent) this.receive(chunk.toString("latin1"));
    });
  }

  /** The error queue, oldest first. */
  get errors(): readonly ScpiErrorEntry[] {
    return this.queue;
  }

  get isOpen(): boolean {
    return this.port.isOpen;
  }

  /** While on, the meter neither reads nor answers anything (bytes received are lost). */
  silence(on: boolean): void {
    this.silent = on;
  }

  /** The next answer to a query is one line of printable junk (or `text`) instead. */
  garbage(text?: string): void {
    this.junk =
      text ??
      Array.from({ length: 8 + Math.floor(Math.random() * 24) }, () =>
        String.fromCharCode(0x41 + Math.floor(Math.random() * 26)),
      ).join("");
  }

  /** How many lines arrived while an earlier query's answer was still to be sent. */
  get overlaps(): number {
    return this.overlapping.length;
  }

  /** Answers to queries come this late (0: at once), as a slow measurement would. */
  delayAnswers(ms: number): void {
    this.answerDelayMs = ms;
  }

  /** Queues an error, as the instrument would on a fault of its own. */
  pushError(code: number, message: string): void {
    if (this.queue.length >= queueSize) return;
    if (this.queue.length === queueSize - 1) this.queue.push({ code: -350, message: "Queue overflow" });
    else this.queue.push({ code, message });
  }

  /** Sets what the meter reads for `quantity`. */
  setValue(quantity: DmmQuantity, value: number): void {
    this.values[quantity] = value;
  }

  /** Sends raw text to the host, even while silenced. */
  send(text: string): void {
    this.write(text, true);
  }

  /** Closes the port; never throws, and resolves also when the pty is already gone. */
  close(): Promise<void> {
    this.clearTimers();
    this.closing ??= new Promise<void>((resolve) => {
      if (!this.port.isOpen) return resolve();
      try {
        this.port.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.closing;
  }

  private receive(text: string): void {
    this.received += text;
    for (let end = this.received.indexOf("\n"); end >= 0; end = this.received.indexOf("\n")) {
      const line = this.received.slice(0, end).replace(/\r$/, "");
      this.received = this.received.slice(end + 1);
      const received = { line, at: clock() };
      this.commands.push(received);
      const [after] = this.unanswered;
      if (after && line.trim() !== "")
        this.overlapping.push({ ...received, after, pendingAnswers: this.unanswered.length });
      this.current = received;
      this.run(line.trim());
      this.current = undefined;
    }
  }

  private run(line: string): void {
    if (line === "") return;
    const space = line.search(/\s/);
    const header = space < 0 ? line : line.slice(0, space);
    const parameters =
      space < 0
        ? []
        : line
            .slice(space + 1)
            .split(",")
            .map((p) => p.trim());
    const upper = header.toUpperCase();
    if (upper === "*IDN?") return this.answer(this.identity);
    if (upper === "*OPC?") return this.answer("1");
    if (upper === "*RST") {
      this.configured = "voltage_dc";
      return;
    }
    if (upper === "*CLS") {
      this.queue.length = 0;
      return;
    }
    if (matches(header, "SYSTem:ERRor:[NEXT]?")) {
      const entry = this.queue.shift() ?? { code: 0, message: "No error" };
      return this.answer(`${entry.code},"${entry.message}"`);
    }
    if (matches(header, "READ?")) return this.answer(formatReading(this.values[this.configured]));
    for (const { pattern, quantity } of measurements) {
      if (!matches(header, pattern)) continue;
      if (!parameters.every(validRangeParameter)) return this.pushError(-224, "Illegal parameter value");
      return this.answer(formatReading(this.values[quantity]));
    }
    for (const { pattern, quantity } of configurations) {
      if (!matches(header, pattern)) continue;
      if (!parameters.every(validRangeParameter)) return this.pushError(-224, "Illegal parameter value");
      this.configured = quantity;
      return;
    }
    if (/^:?CONF(IGURE)?(:|$)/i.test(header) && !header.endsWith("?")) return; // other CONF:...: accepted
    this.pushError(-113, "Undefined header");
  }

  private answer(text: string): void {
    const line = `${this.junk ?? text}\r\n`;
    this.junk = undefined;
    if (this.answerDelayMs <= 0) return this.write(line, false);
    const query = this.current;
    if (query) this.unanswered.push(query);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const index = query ? this.unanswered.indexOf(query) : -1;
      if (index >= 0) this.unanswered.splice(index, 1);
      this.write(line, false);
    }, this.answerDelayMs);
    this.timers.add(timer);
  }

  private write(text: string, evenIfSilent: boolean): void {
    if ((this.silent && !evenIfSilent) || !this.port.isOpen) return;
    this.sent.push({ text, at: clock() });
    this.port.write(text, (error) => {
      if (error) this.lastError = error;
    });
  }

  private clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.unanswered.length = 0;
  }
}

const validRangeParameter = (parameter: string) =>
  /^(DEF|DEFAULT|MIN|MINIMUM|MAX|MAXIMUM|AUTO)$/i.test(parameter) ||
  /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:E[+-]?\d+)?$/i.test(parameter);

/** Shorthand for `ScpiSimulator.start`. */
export const startScpiSimulator = (devicePath: string, options?: ScpiSimulatorOptions) =>
  ScpiSimulator.start(devicePath, options);
