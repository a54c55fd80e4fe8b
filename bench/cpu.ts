/** CPU use read from /proc: a process's (its own, not the bench's) and the whole machine's. */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

/** utime + stime from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 10 ms on Linux). */
export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces: count from the ')' that closes it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Starts counting the processes' CPU time; the function returned gives each one's share of a core since. */
export function cpuMeter<K extends string>(pids: Record<K, number>): () => Record<K, number> {
  const entries = Object.entries(pids) as [K, number][];
  const started = performance.now();
  const before = entries.map(([, pid]) => readCpuSeconds(pid));
  return () => {
    const seconds = (performance.now() - started) / 1000;
    const shares = entries.map(([name, pid], i) => [
      name,
      (readCpuSeconds(pid) - (before[i] ?? 0)) / seconds,
    ]);
    return Object.fromEntries(shares) as Record<K, number>;
  };
}

/** Starts counting the machine's busy CPU time (/proc/stat); the function returned gives the cores busy since. */
export function machineMeter(): () => number {
  const started = performance.now();
  const before = machineBusySeconds();
  return () => (machineBusySeconds() - before) / ((performance.now() - started) / 1000);
}

function machineBusySeconds(): number {
  const [, ...ticks] = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = ticks.map(Number);
  return (user + nice + system + irq + softirq + steal) / 100;
}
