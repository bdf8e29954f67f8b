// Resolves which nodes an operation targets: named nodes, a label selector, or --all.
import { parseSelector } from '../common/labels';
import { InvalidRequestError, NoTargetsError, NodeNotFoundError } from './errors';
import type { NodeRecord, NodeStore } from './store';

/**
 * Names (or ids) and a selector combine with AND; with neither, `all` must be set. Sorted by name.
 * @throws NodeNotFoundError, InvalidRequestError, InvalidSelectorError, NoTargetsError
 */
export async function resolveTargets(store: NodeStore, target: { selector: string; nodes: string[]; all: boolean }): Promise<NodeRecord[]> {
  const selector = parseSelector(target.selector);
  let nodes: NodeRecord[];
  if (target.nodes.length > 0) {
    const seen = new Set<string>();
    nodes = [];
    for (const name of target.nodes) {
      const node = await store.find(name);
      if (!node) throw new NodeNotFoundError(name);
      if (!seen.has(node.id)) nodes.push(node);
      seen.add(node.id);
    }
  } else if (!selector.empty || target.all) {
    nodes = await store.list();
  } else {
    throw new InvalidRequestError('say which nodes: name them, give a selector (-l role=web), or use --all');
  }
  nodes = nodes.filter((n) => selector.matches(n.labels));
  if (nodes.length === 0) throw new NoTargetsError(target.selector ? `selector "${target.selector}"` : 'that request');
  return nodes.sort((a, b) => a.name.localeCompare(b.name));
}
