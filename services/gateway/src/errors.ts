import { httpStatusOf } from "@konstruct/channels/gateway";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";

/** The gateway's fastify error handler: status from the table, a bare body, server errors logged. */
export function createErrorHandler(log: Logger) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const { status, error: body } = httpStatusOf(error);
    const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof retryAfter === "number") reply.header("retry-after", String(retryAfter));
    if (status >= 500) log.error({ err: error, url: request.url, reqId: request.id }, "request failed");
    else log.debug({ code: (error as { code?: string }).code, url: request.url, reqId: request.id }, "request rejected");
    return reply.status(status).send({ error: body });
  };
}
