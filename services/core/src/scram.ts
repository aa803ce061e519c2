import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";

const pbkdf2Async = promisify(pbkdf2);

const ITERATIONS = 4096;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677). Sending the
 * verifier instead of the password keeps the plain password out of server logs and
 * pg_stat_statements, and lets a resync check a role's password by reading it back.
 */
export async function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = ITERATIONS): Promise<string> {
  // PBKDF2 runs on libuv's thread pool: a resync of hundreds of tenants must not block the event loop.
  const salted = await pbkdf2Async(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

// Pairs (verifier, password digest) already shown to match. A resync checks every tenant's role
// against its Secret's password, and each check is 4,096 PBKDF2 rounds (~3–5 ms of CPU): at
// 10,000 Tenants that was most of a resync's cost for an answer that had not changed. Only
// matches are kept, so a changed verifier or password is always computed afresh; bounded, the
// oldest forgotten first.
const MATCHED_LIMIT = 20_000;
const matched = new Set<string>();

/** True when `verifier` (as read from pg_authid) was made from `password`. */
export async function verifierMatches(verifier: string, password: string): Promise<boolean> {
  const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (!match) return false;
  const memo = `${verifier}\n${createHash("sha256").update(password, "utf8").digest("base64")}`;
  if (matched.has(memo)) return true;
  const [, iterations = "", salt = "", storedKey = "", serverKey = ""] = match;
  const expected = await scramVerifier(password, Buffer.from(salt, "base64"), Number(iterations));
  const actual = `SCRAM-SHA-256$${iterations}:${salt}$${storedKey}:${serverKey}`;
  const ok = expected.length === actual.length && timingSafeEqual(Buffer.from(expected), Buffer.from(actual));
  if (ok) {
    if (matched.size >= MATCHED_LIMIT) matched.delete(matched.values().next().value as string);
    matched.add(memo);
  }
  return ok;
}
