// What signs the commands agents run. Asynchronous, so that a key service or an HSM can sign
// later without touching the senders; the embedded one holds the Ed25519 key in memory.
import { sign, type KeyObject } from 'node:crypto';

/** Signs command payloads with the key agents pin (its public half is in their enrollment answer). */
export interface CommandSigner {
  /** The signature of `payload` (Ed25519). */
  sign(payload: Buffer): Promise<Buffer>;
}

/** A signer holding an Ed25519 private key in this process. */
export function localSigner(key: KeyObject): CommandSigner {
  return { sign: async (payload) => sign(null, payload, key) };
}
