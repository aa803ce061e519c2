// Loaded on first use: only the portal hashes passwords, and the native addon (mapped into
// every process that imports it, with its own allocations) has no business in the gateway,
// router, orchestrator or operator, which import this package's index.
const argon2 = () => import("@node-rs/argon2");

// Argon2id with the OWASP-recommended minimum (19 MiB, 2 passes): portal sign-ins are rare
// enough that this cost is invisible to people and expensive for an attacker with a dump.
const OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Hashes a portal user's password (argon2id, PHC string). */
export async function hashPassword(password: string): Promise<string> {
  if (password.length < 12) throw new RangeError("passwords must be at least 12 characters");
  return (await argon2()).hash(password, OPTIONS);
}

/** True when `password` matches a hash made by {@link hashPassword}. */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await (await argon2()).verify(passwordHash, password);
  } catch {
    return false;
  }
}
