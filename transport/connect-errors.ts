// Why a connection to fleet-server failed, in words an operator can act on. Node's sockets,
// OpenSSL and grpc-js only say it in free text ("No connection established. Last error: Error:
// connect ECONNREFUSED …. Resolution note: "), so this is the one place that reads that text.

/** What went wrong when connecting, as a short phrase and a hint at what to check. */
export interface ConnectFailure {
  reason: string;
  hint: string;
}

/**
 * Turns the text of a failed connection (a socket, TLS or grpc-js error message) into a reason
 * and a hint. `port` is the port that was dialled, quoted in hints.
 *
 * @example explainConnectFailure('connect ECONNREFUSED 10.0.0.5:7443', 7443)
 *   // { reason: 'connection refused', hint: 'is fleet-server running there, and is 7443 its gRPC port (--listen, default 7443)?' }
 */
export function explainConnectFailure(text: string, port: number): ConnectFailure {
  const t = text;
  if (/ECONNREFUSED/.test(t)) return { reason: 'connection refused', hint: `is fleet-server running there, and is ${port} its gRPC port (--listen, default 7443)?` };
  if (/ENOTFOUND|EAI_AGAIN|EAI_NONAME|Name resolution failed|getaddrinfo/.test(t)) return { reason: 'the host name does not resolve', hint: 'check the server name in the context (fleet login --server …) and this machine\'s DNS' };
  if (/EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL/.test(t)) return { reason: 'no route to the host', hint: 'check the address and this machine\'s network' };
  if (/ETIMEDOUT|timed? ?out|handshake within/i.test(t)) return { reason: 'no answer', hint: 'check the address, and any firewall or proxy between here and the server' };
  if (/no application protocol|wrong version number|WRONG_VERSION_NUMBER|http\/1\.1|HTTP\/1|unexpected_message|packet length too long|unknown protocol/i.test(t)) {
    return { reason: 'it does not speak fleet\'s gRPC', hint: `is ${port} the server's HTTPS port (default 8443) by mistake? The CLI and agents use the gRPC port (default 7443)` };
  }
  if (/certificate|self[- ]signed|unable to (get|verify)|CERT_|ERR_TLS_CERT|Hostname\/IP does not match/i.test(t)) {
    return { reason: 'its certificate is not signed by the CA this context pins', hint: 'if the server was reinstalled, log in again with its new --ca-hash; otherwise this is not the server you logged in to' };
  }
  if (/ECONNRESET|socket hang up|EPIPE|closed|GOAWAY/i.test(t)) return { reason: 'the connection was closed during the handshake', hint: 'is this a fleet-server\'s gRPC port (default 7443), and is a proxy in between cutting connections?' };
  return { reason: rawReason(t), hint: 'check the server address in the context (fleet login --server …)' };
}

/**
 * True when grpc-js ended a call because a connection that was up went away before the answer
 * (the server restarted, or this client's HTTP/2 layer refused what came): not a failure to
 * connect, and worth retrying for a stream that follows a job.
 */
export function droppedMidCall(details: string): boolean {
  return /^(Connection dropped|Call cancelled)$|^Received RST_STREAM/.test(details);
}

/** The useful part of a grpc-js/OpenSSL message: the last error, one line, no source paths. */
function rawReason(text: string): string {
  const last = /Last error: (?:Error: )?([\s\S]*?)(?:\. Resolution note:|$)/.exec(text)?.[1] ?? text;
  const line = last.split('\n')[0]!.replace(/^[0-9A-F]{8,}:error:[0-9A-F]+:[^:]*:[^:]*:/, '').replace(/:\.\.\/deps\/openssl\S*/, '').trim();
  return line.length > 160 ? `${line.slice(0, 159)}…` : line || 'unknown error';
}
