// Server addresses as users type them: "host", "host:7443", "https://host:7443", "[::1]:7443".
import { FleetError } from './errors';

/** The gRPC port fleet-server listens on unless told otherwise. */
export const DEFAULT_GRPC_PORT = 7443;

export interface ServerAddress {
  host: string;
  port: number;
}

/** Parses a server address; throws FleetError(INVALID_SERVER_URL) with an example on failure. */
export function parseServerAddress(text: string): ServerAddress {
  const raw = text.trim();
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(raw) ? raw : `https://${raw}`);
  } catch {
    throw new FleetError(`invalid server address "${text}" (expected e.g. https://fleet.example.com:${DEFAULT_GRPC_PORT})`, 'INVALID_SERVER_URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'grpcs:') {
    throw new FleetError(`server address "${text}" must use https:// (fleet always uses TLS)`, 'INVALID_SERVER_URL');
  }
  if (url.pathname !== '/' || url.search || url.username) {
    throw new FleetError(`server address "${text}" must be just scheme, host and port`, 'INVALID_SERVER_URL');
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: url.port ? Number(url.port) : DEFAULT_GRPC_PORT };
}

/** Formats host and port for dialing (brackets IPv6). */
export function formatHostPort(a: ServerAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
