/** The DAG shapes the benchmark runs, independent of who runs them (Rigflow or raw BullMQ). */

export interface BenchNode {
  id: string;
  device: string;
  /** Ids of the nodes that must complete before this one starts. */
  preds: string[];
}

export interface Workload {
  name: string;
  nodes: BenchNode[];
}

/** Node i goes to device i mod the number of devices. */
const spread = (devices: readonly string[], index: number): string =>
  devices[index % devices.length] as string;

/** n0 -> n1 -> ... -> n(length-1). */
export function chain(length: number, devices: readonly string[]): Workload {
  const nodes = Array.from({ length }, (_, i) => ({
    id: `n${i}`,
    device: spread(devices, i),
    preds: i === 0 ? [] : [`n${i - 1}`],
  }));
  return { name: `chain-${length}`, nodes };
}

/** One source, `width` middles that each depend on it, one sink that depends on all of them. */
export function fanOutIn(width: number, devices: readonly string[]): Workload {
  const middles = Array.from({ length: width }, (_, i) => `m${i}`);
  const ids = ["src", ...middles, "sink"];
  const nodes = ids.map((id, i) => ({
    id,
    device: spread(devices, i),
    preds: id === "src" ? [] : id === "sink" ? middles : ["src"],
  }));
  return { name: `fan-1-${width}-1`, nodes };
}

/** `count` nodes with no edges between them. */
export function independent(count: number, devices: readonly string[]): Workload {
  const nodes = Array.from({ length: count }, (_, i) => ({
    id: `n${i}`,
    device: spread(devices, i),
    preds: [],
  }));
  return { name: `independent-${count}`, nodes };
}

/** The workload as a Rigflow pipeline document; by default every node is mock-servo's instant "status". */
export function toDocument(id: string, workload: Workload, functionId = "status"): Record<string, unknown> {
  return {
    id,
    name: id,
    nodes: workload.nodes.map((node) => ({
      id: node.id,
      device_id: node.device,
      function_id: functionId,
      params: {},
    })),
    edges: workload.nodes.flatMap((node) => node.preds.map((source) => ({ source, target: node.id }))),
  };
}
