// What signs the commands agents run. Asynchronous, so that a key service or an HSM can sign
// later without touching the senders; the embedded one holds the Ed25519 key in memory and also
// signs at once, so a command it signs leaves in the same turn of the event loop.
import { sign, type KeyObject } from 'node:crypto';

/** Signs command payloads with the key agents pin (its public half is in their enrollment answer). */
export interface CommandSigner {
  /** The signature of `payload` (Ed25519). */
  sign(payload: Buffer): Promise<Buffer>;
  /**
   * The signature of `payload` now, for a signer that holds its key in this process. With it, a
   * fan-out's first commands are on the wire while the rest are being signed (agents start on
   * them meanwhile), as they were before signing became asynchronous; a remote signer leaves it out.
   */
  signNow?(payload: Buffer): Buffer;
}

/** A signer holding an Ed25519 private key in this process. */
export function localSigner(key: KeyObject): CommandSigner {
  const signNow = (payload: Buffer): Buffer => sign(null, payload, key);
  return { sign: async (payload) => signNow(payload), signNow };
}
