import { createStyle, printable, type Style } from "./format.js";
import { eventLine } from "./event-line.js";
import type { CliIo } from "./io.js";
import type { RunModel } from "./run-model.js";
import { frameLines, redraw } from "./tty-frame.js";
import type { RunEvent } from "./wire.js";

/** How a watch shows a run: the run's events in order, the connection's ups and downs, the end. */
export interface Display {
  event(event: RunEvent, model: RunModel): void;
  /** The replay is done and events now come as they happen. */
  live(model: RunModel): void;
  connectionLost(reason: string, model: RunModel): void;
  /** The last word on the run (its final state), or the watch stopped; the display is done. */
  end(model: RunModel): void;
}

export type DisplayMode = "tty" | "plain" | "json";

export function createDisplay(mode: DisplayMode, io: CliIo): Display {
  if (mode === "json") return jsonDisplay(io);
  if (mode === "plain") return plainDisplay(io);
  return new TtyDisplay(io, createStyle(!io.env.NO_COLOR));
}

/** One JSON event per line, exactly as the API sent it. */
function jsonDisplay(io: CliIo): Display {
  return {
    event: (event) => io.stdout.write(`${JSON.stringify(event)}\n`),
    live: () => undefined,
    connectionLost: (reason) =>
      io.stderr.write(`rigflow: connection lost (${printable(reason)}); reconnecting\n`),
    end: () => undefined,
  };
}

/** One plain line per event, for pipes and CI logs. */
function plainDisplay(io: CliIo): Display {
  let lost = false;
  return {
    event: (event, model) => io.stdout.write(`${eventLine(event, model)}\n`),
    live: () => {
      if (lost) io.stderr.write("rigflow: reconnected; no event was missed\n");
      lost = false;
    },
    connectionLost: (reason) => {
      lost = true;
      io.stderr.write(`rigflow: connection lost (${printable(reason)}); reconnecting\n`);
    },
    end: () => undefined,
  };
}

const tickMs = 100;

/** The run's nodes, one line each, redrawn in place on a terminal. */
class TtyDisplay implements Display {
  private drawn = 0;
  private tick = 0;
  private lost: string | null = null;
  private readonly timer: NodeJS.Timeout;
  private model: RunModel | null = null;

  constructor(
    private readonly io: CliIo,
    private readonly style: Style,
  ) {
    io.stdout.write("\x1b[?25l"); // the cursor would flicker over the frame
    // Redraws on a tick rather than per event: durations and the spinner move, and a burst of
    // events costs one frame.
    this.timer = setInterval(() => {
      this.tick += 1;
      this.draw(false);
    }, tickMs);
  }

  event(): void {
    // The model is drawn on the next tick; until the first live(), it is still replaying history.
  }

  live(model: RunModel): void {
    this.lost = null;
    this.model = model;
    this.draw(false);
  }

  connectionLost(reason: string, model: RunModel): void {
    this.lost = reason;
    this.model = model;
    this.draw(false);
  }

  end(model: RunModel): void {
    clearInterval(this.timer);
    this.model = model;
    this.lost = null;
    this.draw(true);
    this.io.stdout.write("\x1b[?25h");
  }

  private draw(final: boolean): void {
    if (!this.model) return;
    const lines = frameLines(this.model, {
      now: this.io.now(),
      columns: this.io.stdout.columns,
      // The last frame may run past the screen's height: nothing is redrawn over it.
      maxLines: final ? Number.MAX_SAFE_INTEGER : Math.max(3, this.io.stdout.rows - 1),
      tick: this.tick,
      connectionLost: this.lost,
      style: this.style,
    });
    this.io.stdout.write(redraw(this.drawn, lines));
    this.drawn = lines.length;
  }
}
