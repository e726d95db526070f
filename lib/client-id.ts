/**
 * Client ids: 128 bits from the CSPRNG, as 32 lower-case hex characters (alphanumeric,
 * as the spec asks). Random bytes are drawn in blocks so a handshake costs no syscall.
 */
import { randomFillSync } from 'node:crypto';

const ID_BYTES = 16;
const POOL_IDS = 256;
const pool = Buffer.allocUnsafe(ID_BYTES * POOL_IDS);
let offset = pool.length;

/** A fresh, unguessable client id. */
export function newClientId(): string {
  if (offset >= pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}
