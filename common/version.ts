// The version every executable reports; injected at build time, read from package.json in dev.
declare const __FLEET_VERSION__: string | undefined;

/** The fleet version of this build, e.g. "0.1.0". */
export const VERSION: string =
  typeof __FLEET_VERSION__ === 'string' ? __FLEET_VERSION__ : (process.env.npm_package_version ?? '0.0.0-dev');
