/**
 * Reads a mock servo's journal (its `journal` option): a JSON line per command start and end,
 * appended by whichever worker process drives the device. It is the device's own account, so it
 * still tells when commands ran after the process that ran them was killed.
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

export interface JournalStart {
  device: string;
  /** `<pid>-<device>-<n>`: the pid of the worker process that ran the command. */
  id: string;
  /** Date.now() in that process when the command started. */
  at: number;
  function: string;
  params: Record<string, unknown>;
}

export class Journal {
  constructor(private readonly path: string) {}

  /** The command starts written so far, in the order they were written. */
  starts(): JournalStart[] {
    const lines = readFileSync(this.path, "utf8").split("\n");
    // The last piece is "" or a line still being written.
    return lines
      .slice(0, -1)
      .map((line) => JSON.parse(line) as JournalStart & { event: string })
      .filter((entry) => entry.event === "start");
  }

  /**
   * Resolves with the `index`-th command start on `device` (from 0) once it is written. Polls every
   * 5 ms: the figures come from the journal's own times, so polling only delays what the bench
   * does next (a kill), and a tighter loop would take CPU from the workers being timed.
   */
  async start(index: number, device: string, timeoutMs: number, what: string): Promise<JournalStart> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.starts().filter((entry) => entry.device === device)[index];
      if (found) return found;
      if (performance.now() > deadline) throw new Error(`${what}: no command start after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

/** The pid of the process that wrote the entry. */
export const writerPid = (entry: JournalStart): number => Number(entry.id.split("-")[0]);
