// Reading the mock servos' journal (the `journal` option): every command appends a line when it
// starts, at each step of its motion, and when it ends, from whichever process runs it, so a test
// can count executions and overlaps by what the devices did, not by what the engine says.
import { readFileSync } from "node:fs";
import { expect } from "vitest";

export interface JournalEntry {
  device: string;
  /** "<pid>-<device>-<n>": the process and its command. */
  id: string;
  at: number;
  /** "hold": it stopped between steps, its worker unsure it may drive the device; "resume": it went on. */
  event: "start" | "step" | "hold" | "resume" | "end";
  function?: string;
  params?: Record<string, number>;
  position?: number;
  outcome?: string;
}

export function readJournal(file: string): JournalEntry[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as JournalEntry);
}

export const pidOf = (entry: JournalEntry): number => Number(entry.id.split("-")[0]);

/** One command as the device saw it: when it started, when it last moved, how it ended. */
export interface JournalCommand {
  id: string;
  pid: number;
  device: string;
  function: string;
  params: Record<string, number> | undefined;
  start: number;
  /** The last moment it drove the device: its last step, or its end if it completed. */
  lastDrove: number;
  steps: number[];
  /** When it was held between steps, and when it went on. */
  holds: { event: "hold" | "resume"; at: number }[];
  end?: JournalEntry;
}

export function commands(entries: readonly JournalEntry[]): JournalCommand[] {
  const byId = new Map<string, JournalCommand>();
  for (const entry of entries) {
    if (entry.event === "start") {
      byId.set(entry.id, {
        id: entry.id,
        pid: pidOf(entry),
        device: entry.device,
        function: entry.function ?? "",
        params: entry.params,
        start: entry.at,
        lastDrove: entry.at,
        steps: [],
        holds: [],
      });
      continue;
    }
    const command = byId.get(entry.id);
    if (!command) continue;
    if (entry.event === "step") {
      command.steps.push(entry.at);
      command.lastDrove = Math.max(command.lastDrove, entry.at);
    } else if (entry.event === "hold" || entry.event === "resume") {
      command.holds.push({ event: entry.event, at: entry.at });
    } else {
      command.end = entry;
      // Stopping a servo is not driving it; completing a move is.
      if (entry.outcome === "completed") command.lastDrove = Math.max(command.lastDrove, entry.at);
    }
  }
  return [...byId.values()];
}

/**
 * No two processes drove one device at once: for each device, the commands of different processes
 * never overlap between their start and the last moment they drove it.
 */
export function expectNoTwoHoldersDrove(entries: readonly JournalEntry[], context = ""): void {
  const all = commands(entries);
  const overlaps: string[] = [];
  for (const a of all) {
    for (const b of all) {
      if (a === b || a.device !== b.device || a.pid === b.pid) continue;
      if (a.start <= b.start && b.start <= a.lastDrove) {
        overlaps.push(`${b.id} started at ${b.start} while ${a.id} drove ${a.device} until ${a.lastDrove}`);
      }
    }
  }
  expect(overlaps, context).toEqual([]);
}
