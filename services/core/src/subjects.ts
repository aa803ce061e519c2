import { SubjectError } from "./errors.ts";
import { assertTenantId, isUuid } from "./ids.ts";

/**
 * NATS subjects. `.` separates tokens and `*`/`>` are wildcards, so every variable token is
 * validated to be exactly one literal token: a channel type like `slack` or a tenant UUID.
 */
const CHANNEL_TYPE = /^[a-z][a-z0-9_-]{0,31}$/;

export const STREAMS = {
  inbound: "KONSTRUCT_INBOUND",
  work: "KONSTRUCT_WORK",
  outbound: "KONSTRUCT_OUTBOUND",
  deadLetter: "KONSTRUCT_DEAD_LETTER",
} as const;

export const SUBJECT_PREFIX = {
  inbound: "konstruct.inbound",
  work: "konstruct.work",
  outbound: "konstruct.outbound",
  stream: "konstruct.stream",
  deadLetter: "konstruct.deadletter",
} as const;

function channelToken(channelType: string): string {
  if (typeof channelType !== "string" || !CHANNEL_TYPE.test(channelType)) {
    throw new SubjectError(`invalid channel type ${JSON.stringify(String(channelType).slice(0, 40))} for a NATS subject`);
  }
  return channelType;
}

/** `konstruct.inbound.<channel>`: normalized messages from the gateway, tenant not yet resolved. */
export function inboundSubject(channelType: string): string {
  return `${SUBJECT_PREFIX.inbound}.${channelToken(channelType)}`;
}

/** `konstruct.work.<tenantId>`: routed work for the orchestrator, one subject per tenant. */
export function workSubject(tenantId: string): string {
  return `${SUBJECT_PREFIX.work}.${assertTenantId(tenantId)}`;
}

/** `konstruct.outbound.<channel>`: replies for the channel's outbound worker. */
export function outboundSubject(channelType: string): string {
  return `${SUBJECT_PREFIX.outbound}.${channelToken(channelType)}`;
}

/**
 * `konstruct.stream.<tenantId>.<channel>`: a reply as it is being written, on core NATS (no
 * stream: partial text is ephemeral, and the outbound reply stays the one that counts). The
 * tenant token lets a subscriber take only its tenants' deltas, and lets a receiver check that a
 * delta's subject and body name the same tenant.
 */
export function replyStreamSubject(tenantId: string, channelType: string): string {
  return `${SUBJECT_PREFIX.stream}.${assertTenantId(tenantId)}.${channelToken(channelType)}`;
}

/** `konstruct.stream.*.<channel>`: every tenant's reply deltas for one channel type (the gateway's subscription). */
export function replyStreamWildcard(channelType: string): string {
  return `${SUBJECT_PREFIX.stream}.*.${channelToken(channelType)}`;
}

/** The tenant id of a `konstruct.stream.<tenantId>.<channel>` subject, or null for any other subject. */
export function tenantOfReplyStream(subject: string): string | null {
  const tokens = subject.split(".");
  if (tokens.length !== 4 || `${tokens[0]}.${tokens[1]}` !== SUBJECT_PREFIX.stream) return null;
  const tenantId = tokens[2] as string;
  return isUuid(tenantId) ? tenantId : null;
}

/** `konstruct.deadletter.<stream>`: poison messages, kept for inspection. */
export function deadLetterSubject(stream: string): string {
  if (!/^[A-Z][A-Z0-9_]{0,63}$/.test(stream)) throw new SubjectError(`invalid stream name ${JSON.stringify(stream)}`);
  return `${SUBJECT_PREFIX.deadLetter}.${stream}`;
}
