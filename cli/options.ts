// Options several commands share, built one way so they behave the same everywhere: `-l` may be
// repeated (the selectors are ANDed), `-o` refuses a format the command does not have.
import { Option } from 'commander';

/**
 * `-l, --selector <selector>`. Repeating it narrows the selection: `-l role=web -l env=prod`
 * selects what `-l role=web,env=prod` selects (every requirement must hold), as kubectl does.
 */
export function selectorOption(description = 'label selector, e.g. role=web,env!=dev (repeat to AND)'): Option {
  return new Option('-l, --selector <selector>', description).argParser((value: string, previous: string | undefined) => andSelectors(previous, value));
}

/** Joins two selectors so that both must hold (a selector's requirements are comma-separated). */
export function andSelectors(previous: string | undefined, value: string): string {
  const parts = [previous, value].map((s) => s?.trim()).filter((s): s is string => !!s);
  return parts.join(',');
}

/**
 * `-o, --output <format>` limited to `formats`: anything else is a usage error (exit 2) before
 * any request is made, and `--help` lists the choices.
 */
export function outputOption(formats: readonly string[], defaultValue: string, description?: string): Option {
  return new Option('-o, --output <format>', description ? `output format (${description})` : 'output format').choices(formats).default(defaultValue);
}
