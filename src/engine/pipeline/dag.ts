/**
 * Orders the nodes so that every node comes after all its predecessors (Kahn's algorithm). When the
 * edges hold a cycle, returns one cycle as a path that starts and ends on the same node.
 */
export function topologicalOrder(
  nodeIds: readonly string[],
  edges: readonly { source: string; target: string }[],
): { order: string[] } | { cycle: string[] } {
  const successors = new Map<string, string[]>(nodeIds.map((id) => [id, []]));
  const indegree = new Map<string, number>(nodeIds.map((id) => [id, 0]));
  for (const { source, target } of edges) {
    successors.get(source)?.push(target);
    indegree.set(target, (indegree.get(target) ?? 0) + 1);
  }
  const ready = nodeIds.filter((id) => indegree.get(id) === 0);
  const order: string[] = [];
  for (let next = ready.shift(); next !== undefined; next = ready.shift()) {
    order.push(next);
    for (const successor of successors.get(next) ?? []) {
      const left = (indegree.get(successor) ?? 0) - 1;
      indegree.set(successor, left);
      if (left === 0) ready.push(successor);
    }
  }
  if (order.length === nodeIds.length) return { order };
  const stuck = new Set(nodeIds.filter((id) => (indegree.get(id) ?? 0) > 0));
  return { cycle: findCycle(stuck, edges) };
}

/**
 * A node left after Kahn's algorithm still has a predecessor that was never ordered, which is left
 * too; so walking backwards from any of them must come round to a node already seen: a cycle.
 */
function findCycle(stuck: Set<string>, edges: readonly { source: string; target: string }[]): string[] {
  const predecessor = new Map<string, string>();
  for (const { source, target } of edges) {
    if (stuck.has(source) && stuck.has(target)) predecessor.set(target, source);
  }
  const path: string[] = [];
  const seenAt = new Map<string, number>();
  let current = stuck.values().next().value as string;
  while (!seenAt.has(current)) {
    seenAt.set(current, path.length);
    path.push(current);
    current = predecessor.get(current) as string;
  }
  const cycle = path.slice(seenAt.get(current)).reverse();
  return [...cycle, cycle[0] as string];
}
