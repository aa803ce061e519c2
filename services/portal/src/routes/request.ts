import type { FastifyReply, FastifyRequest } from "fastify";
import { clientAddress } from "../app.ts";
import { type Usage, usageCsv } from "../usage.ts";

/** A parsed form or JSON body, or an empty one for anything else. */
export type Body = Record<string, unknown>;
export const bodyOf = (body: unknown): Body => (body !== null && typeof body === "object" ? (body as Body) : {});
/** A body field as a string; "" for anything that is not one. */
export const str = (v: unknown) => (typeof v === "string" ? v : "");

/** Where a sign-in or an accepted invitation comes from, as the session records it. */
export const requestOrigin = (request: FastifyRequest) => ({
  userAgent: str(request.headers["user-agent"]),
  address: clientAddress(request),
});

/** Sends the usage as a CSV download (the page's link and the API's route alike). */
export const sendUsageCsv = (reply: FastifyReply, u: Usage) =>
  reply.type("text/csv; charset=utf-8").header("content-disposition", 'attachment; filename="usage.csv"').send(usageCsv(u));
