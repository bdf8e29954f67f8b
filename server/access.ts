// Access control by scope: an API token may be limited to the nodes matching a label selector.
// Such a token sees only those nodes (and the jobs, sessions and rollouts on them) and may act
// only on them; anything that would reach a node outside is refused with OutOfScopeError. Admin
// tokens are never scoped (they manage tokens, machines and the fleet as a whole).
import { parseSelector, type Labels, type Selector } from '../common/labels';
import type { Principal } from './auth';
import { OutOfScopeError } from './errors';
import type { NodeStore } from './store';

/** A node as access control sees it. */
interface Scoped {
  name: string;
  labels: Labels;
}

export class Access {
  readonly #nodes: NodeStore;
  readonly #selectors = new Map<string, Selector>();

  constructor(nodes: NodeStore) {
    this.#nodes = nodes;
  }

  #scope(principal: Principal): Selector {
    let selector = this.#selectors.get(principal.scope);
    if (!selector) {
      selector = parseSelector(principal.scope);
      this.#selectors.set(principal.scope, selector);
    }
    return selector;
  }

  /** True when the node is within the principal's scope. */
  sees(principal: Principal, node: { labels: Labels }): boolean {
    return !principal.scope || this.#scope(principal).matches(node.labels);
  }

  /** True when every node (by id) is within the scope; a removed node is outside every scope. */
  async seesIds(principal: Principal, nodeIds: Iterable<string>): Promise<boolean> {
    if (!principal.scope) return true;
    for (const id of nodeIds) {
      const node = await this.#nodes.get(id);
      if (!node || !this.sees(principal, node)) return false;
    }
    return true;
  }

  /**
   * Throws OutOfScopeError unless every node is within the principal's scope. The nodes outside
   * are only counted: a limited token should not learn what else the fleet holds.
   */
  requireNodes(principal: Principal, nodes: readonly Scoped[], action: string): void {
    if (!principal.scope) return;
    const outside = nodes.filter((n) => !this.sees(principal, n)).length;
    if (outside > 0) throw new OutOfScopeError(principal.scope, `${action} would reach ${outside} node${outside === 1 ? '' : 's'} outside it`);
  }

  /**
   * The newest `limit` items the principal may see, from `newest(n)` (newest first); `nodeIds`
   * says which nodes an item touches. A limited token looks further back for its items.
   */
  async newestVisible<T>(principal: Principal, limit: number, newest: (n: number) => Promise<T[]>, nodeIds: (item: T) => string[]): Promise<T[]> {
    if (!principal.scope) return newest(limit);
    const visible: T[] = [];
    for (const item of await newest(limit * 10)) {
      if (visible.length === limit) break;
      if (await this.seesIds(principal, nodeIds(item))) visible.push(item);
    }
    return visible;
  }

  /**
   * A spec's selector also decides which nodes get it later (a node that joins the selector), so
   * a limited token may only apply specs whose selector is at least as narrow as its scope.
   */
  requireSelector(principal: Principal, selector: string, action: string): void {
    if (!principal.scope) return;
    if (!parseSelector(selector).implies(this.#scope(principal))) {
      throw new OutOfScopeError(principal.scope, `${action} has the selector "${selector}", which is not limited to it (add the scope's labels to the selector)`);
    }
  }

  /** Throws OutOfScopeError for fleet-wide information or actions asked by a limited token. */
  requireUnscoped(principal: Principal, action: string): void {
    if (principal.scope) throw new OutOfScopeError(principal.scope, `${action} is for tokens without a scope`);
  }
}
