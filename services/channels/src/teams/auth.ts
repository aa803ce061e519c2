import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify, type RemoteJWKSet } from "jose";

/**
 * Verifies the bearer tokens the Bot Framework sends with every activity (its "Connector to
 * bot" authentication): an RS256 JWT whose issuer is the Bot Framework's, whose audience is the
 * bot's app id, signed by one of the keys listed at the `jwks_uri` of the Bot Framework's OpenID
 * metadata. jose does the cryptography and the key cache: keys are reused for `keysMaxAgeMs`, and
 * a token signed with a key id not in the cache fetches the set again — at most once per
 * `refetchCooldownMs`, so a flood of tokens with made-up key ids cannot make us hammer the
 * metadata host.
 */

/** The Bot Framework's public OpenID metadata and issuer (Azure public cloud). */
export const BOT_FRAMEWORK_OPENID_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration";
export const BOT_FRAMEWORK_ISSUER = "https://api.botframework.com";

/** Options for {@link createTeamsTokenVerifier}. */
export interface TeamsTokenVerifierOptions {
  /** Where the OpenID metadata document (with `jwks_uri`) lives. */
  openIdMetadataUrl: string;
  /** The issuer every token must name. */
  issuer: string;
  /** How long the metadata document is reused. */
  metadataMaxAgeMs?: number;
  /** How long a fetched key set is reused before it is fetched again. */
  keysMaxAgeMs?: number;
  /** The least time between two fetches of the key set caused by unknown key ids. */
  refetchCooldownMs?: number;
  /** Timeout of one metadata or key set fetch. */
  fetchTimeoutMs?: number;
  /** Leeway for `exp`/`nbf`, as the Bot Framework SDKs allow (5 minutes). */
  clockToleranceSeconds?: number;
  now?: () => number;
}

/** The claims Konstruct reads from a verified token. */
export interface TeamsTokenClaims extends JWTPayload {
  /** The service URL the token was issued for; the activity's `serviceUrl` must equal it. */
  serviceurl?: string;
}

/** A verified token: its claims and the channels its signing key is endorsed for. */
export interface VerifiedTeamsToken {
  claims: TeamsTokenClaims;
  /** The key's `endorsements` (channel ids such as `msteams`), or null when the key lists none. */
  endorsements: string[] | null;
}

/** Why a token was refused (`invalid`), or that the keys could not be fetched (`unavailable`). */
export class TeamsAuthError extends Error {
  readonly kind: "invalid" | "unavailable";
  constructor(kind: "invalid" | "unavailable", message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TeamsAuthError";
    this.kind = kind;
  }
}

/** Verifies Bot Framework tokens for any of our bots (the audience is the caller's). */
export interface TeamsTokenVerifier {
  /** The verified token, or a TeamsAuthError. */
  verify(token: string, audience: string): Promise<VerifiedTeamsToken>;
}

/** Creates a verifier with its own metadata and key cache, shared by every Teams connection. */
export function createTeamsTokenVerifier(options: TeamsTokenVerifierOptions): TeamsTokenVerifier {
  const now = options.now ?? Date.now;
  const metadataMaxAgeMs = options.metadataMaxAgeMs ?? 24 * 60 * 60_000;
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 5_000;
  let keys: { jwksUri: string; set: RemoteJWKSet; expires: number } | null = null;
  let loading: Promise<RemoteJWKSet> | null = null;

  async function loadMetadata(): Promise<RemoteJWKSet> {
    let document: { jwks_uri?: unknown };
    try {
      const response = await fetch(options.openIdMetadataUrl, { signal: AbortSignal.timeout(fetchTimeoutMs) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      document = (await response.json()) as { jwks_uri?: unknown };
    } catch (cause) {
      // Keep using the last key set while the metadata host is unreachable.
      if (keys) return keys.set;
      throw new TeamsAuthError("unavailable", "the Bot Framework OpenID metadata could not be fetched", { cause });
    }
    const jwksUri = document?.jwks_uri;
    if (typeof jwksUri !== "string" || !/^https?:\/\//.test(jwksUri)) {
      if (keys) return keys.set;
      throw new TeamsAuthError("unavailable", "the Bot Framework OpenID metadata names no jwks_uri");
    }
    const set =
      keys?.jwksUri === jwksUri
        ? keys.set
        : createRemoteJWKSet(new URL(jwksUri), {
            cacheMaxAge: options.keysMaxAgeMs ?? 24 * 60 * 60_000,
            cooldownDuration: options.refetchCooldownMs ?? 30_000,
            timeoutDuration: fetchTimeoutMs,
          });
    keys = { jwksUri, set, expires: now() + metadataMaxAgeMs };
    return set;
  }

  async function keySet(): Promise<RemoteJWKSet> {
    if (keys && keys.expires > now()) return keys.set;
    loading ??= loadMetadata().finally(() => {
      loading = null;
    });
    return loading;
  }

  return {
    async verify(token, audience) {
      const set = await keySet();
      let verified: Awaited<ReturnType<typeof jwtVerify<TeamsTokenClaims>>>;
      try {
        verified = await jwtVerify<TeamsTokenClaims>(token, set, {
          issuer: options.issuer,
          audience,
          algorithms: ["RS256"],
          clockTolerance: options.clockToleranceSeconds ?? 300,
          currentDate: new Date(now()),
          requiredClaims: ["exp"],
        });
      } catch (error) {
        throw classify(error);
      }
      const kid = verified.protectedHeader.kid;
      const key = set.jwks()?.keys.find((k) => k.kid === kid) as { endorsements?: unknown } | undefined;
      const endorsements = Array.isArray(key?.endorsements)
        ? key.endorsements.filter((e): e is string => typeof e === "string")
        : null;
      return { claims: verified.payload, endorsements };
    },
  };
}

/** A fetch that failed or timed out is the key host's trouble (503, the Bot Framework retries); anything else is the token's. */
function classify(error: unknown): TeamsAuthError {
  if (error instanceof TeamsAuthError) return error;
  // jose raises its generic error for a key set answered with something other than 200 and JSON.
  if (error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError) || error.code === "ERR_JOSE_GENERIC") {
    return new TeamsAuthError("unavailable", "the Bot Framework signing keys could not be fetched", { cause: error });
  }
  return new TeamsAuthError("invalid", `token refused: ${error.code}`, { cause: error });
}
