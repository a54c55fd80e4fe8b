import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";

const scriptNames = [
  "run-start",
  "run-finish",
  "run-cancel",
  "run-resume",
  "run-pause",
  "run-settle",
  "node-recover",
  "approval-wait",
  "approval-decide",
  "approvals-rest",
  "nodes-reset",
  "node-begin",
  "node-complete",
  "node-release",
  "node-retry",
  "node-fail",
  "nodes-release",
  "nodes-cancel",
  "pipeline-save",
  "device-lease-hold",
  "device-lease-release",
  "node-progress",
  "runs-index",
  "run-remove",
  "run-admit",
  "retention-lease-release",
  "plan-reference",
  "active-run-drop",
  "node-counts",
  "redis-time",
] as const;
export type ScriptName = (typeof scriptNames)[number];

interface Script {
  command: string;
  lua: string;
  keyCount: number;
}

const readLua = (path: string) => readFileSync(new URL(`./lua/${path}.lua`, import.meta.url), "utf8");

/**
 * Replaces each `--- @include "name"` line with `lua/includes/<name>.lua`, as BullMQ's scripts do:
 * an idiom several scripts share (appending an event, checking a fence) is written once.
 */
export function expandIncludes(lua: string): string {
  return lua.replace(/^--- @include "([a-z-]+)"$/gm, (_line, include: string) =>
    readLua(`includes/${include}`).trimEnd(),
  );
}

/** A script's key count is read from its KEYS header, so the two cannot drift apart. */
const scripts = new Map<ScriptName, Script>(
  scriptNames.map((name) => {
    const source = readLua(name);
    const lua = expandIncludes(source);
    const header = source
      .split("\n")
      .filter((line) => line.startsWith("--"))
      .join("\n");
    const keyCount = Math.max(0, ...[...header.matchAll(/KEYS\[(\d+)\]/g)].map((match) => Number(match[1])));
    return [name, { command: `rigflow_${name.replace(/-/g, "_")}`, lua, keyCount }];
  }),
);

type ScriptRunner = (keys: string[], args: (string | number)[]) => Promise<unknown>;
type Callable = Record<string, (...args: (string | number)[]) => Promise<unknown>>;

/** Rigflow's Lua scripts as functions, defined once per connection (EVALSHA, then EVAL). */
export function loadScripts(redis: Redis): Record<ScriptName, ScriptRunner> {
  const runners = {} as Record<ScriptName, ScriptRunner>;
  for (const [name, script] of scripts) {
    if (!(script.command in redis)) {
      redis.defineCommand(script.command, { numberOfKeys: script.keyCount, lua: script.lua });
    }
    const call = (redis as unknown as Callable)[script.command] as Callable[string];
    runners[name] = (keys, args) => {
      if (keys.length !== script.keyCount) {
        throw new Error(`${name}.lua takes ${script.keyCount} keys, got ${keys.length}`);
      }
      return call.call(redis, ...keys, ...args);
    };
  }
  return runners;
}
