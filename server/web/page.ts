// What every page of the web app gets from the router, and how it says goodbye.
import type { Me } from './api';

export interface PageContext {
  /** Who is signed in. */
  me: Me;
  /** Path parts after the section, decoded (#/nodes/web-1 → ['web-1']). */
  params: string[];
  /** The query part of the hash (#/nodes?selector=role%3Dweb). */
  query: URLSearchParams;
  /** Aborted when the user leaves the page: pass it to fetches, timers check it. */
  signal: AbortSignal;
}

/** Renders into `main`; may return a function that runs when the page is left. */
export type Page = (main: HTMLElement, ctx: PageContext) => void | (() => void) | Promise<void | (() => void)>;

/** True for operator and admin: they may open shells and see recordings. */
export function isOperator(me: Me): boolean {
  return me.role === 'operator' || me.role === 'admin';
}
