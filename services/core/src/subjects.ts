import { SubjectError } from "./errors.ts";
import { assertTenantId } from "./ids.ts";

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

/** `konstruct.deadletter.<stream>`: poison messages, kept for inspection. */
export function deadLetterSubject(stream: string): string {
  if (!/^[A-Z][A-Z0-9_]{0,63}$/.test(stream)) throw new SubjectError(`invalid stream name ${JSON.stringify(stream)}`);
  return `${SUBJECT_PREFIX.deadLetter}.${stream}`;
}
