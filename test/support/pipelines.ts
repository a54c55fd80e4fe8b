/** Small pipeline documents for tests, in the wire's shape. */
type Node = {
  id: string;
  device_id: string;
  function_id: string;
  params?: Record<string, unknown>;
  [extra: string]: unknown;
};
type Edge = { source: string; target: string; source_output?: string; target_input?: string };

export const doc = (id: string, nodes: Node[], edges: Edge[] = []) => ({ id, name: id, nodes, edges });

/** The nodes one after another: each waits for the one before it. */
export const chainDoc = (id: string, ...nodes: Node[]) =>
  doc(
    id,
    nodes,
    nodes.slice(1).map((node, i) => ({ source: nodes[i]?.id ?? "", target: node.id })),
  );

export const move = (id: string, device: string, position: number): Node => ({
  id,
  device_id: device,
  function_id: "move",
  params: { position },
});

/** One source, `width` middles spread over the devices in turn, one sink: instant status calls. */
export function statusFan(id: string, width: number, deviceIds: readonly string[]) {
  const middles = Array.from({ length: width }, (_, i) => `m${i}`);
  const node = (nodeId: string, i: number): Node => ({
    id: nodeId,
    device_id: deviceIds[i % deviceIds.length] ?? "servo-1",
    function_id: "status",
    params: {},
  });
  return doc(
    id,
    ["src", ...middles, "sink"].map(node),
    middles.flatMap((m) => [
      { source: "src", target: m },
      { source: m, target: "sink" },
    ]),
  );
}

/** A relative move (the mock servo's non-idempotent function): never repeated by itself. */
export const step = (id: string, device: string, delta: number): Node => ({
  id,
  device_id: device,
  function_id: "step",
  params: { delta },
});

export const home = (id: string, device: string): Node => ({
  id,
  device_id: device,
  function_id: "home",
  params: {},
});

/** The seed's demo: home then move to 100, on servo-1. */
export const seedDemo = doc(
  "demo_pipeline_001",
  [home("node_1", "servo-1"), move("node_2", "servo-1", 100)],
  [{ source: "node_1", target: "node_2" }],
);

/** The seed's answer to its demo, as its log recorded it (execution_time and run_id vary). */
export const seedDemoAnswer = {
  success: true,
  pipeline_id: "demo_pipeline_001",
  nodes_executed: 2,
  results: {
    node_1: { node_id: "node_1", status: "completed", outputs: { complete: true, position: 0 } },
    node_2: { node_id: "node_2", status: "completed", outputs: { complete: true, position: 100 } },
  },
};

/** A diamond over two servos: top, then left (servo-2) and right (servo-1) at once, then bottom. */
export const servoDiamond = (id: string) =>
  doc(
    id,
    [
      move("top", "servo-1", 30),
      move("left", "servo-2", 10),
      move("right", "servo-1", 20),
      move("bottom", "servo-2", 40),
    ],
    [
      { source: "top", target: "left" },
      { source: "top", target: "right" },
      { source: "left", target: "bottom" },
      { source: "right", target: "bottom" },
    ],
  );
