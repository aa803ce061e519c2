import type { Static, TSchema } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";

/** A compiled validator that reports every failing path, for boundaries that reject bad input. */
export interface Validator<T extends TSchema> {
  check(value: unknown): value is Static<T>;
  /** Human-readable issues (`/path: message`), at most `limit` of them. */
  issues(value: unknown, limit?: number): string[];
}

/** Compiles a TypeBox schema once; use at module scope. */
export function compile<T extends TSchema>(schema: T): Validator<T> {
  const checker: TypeCheck<T> = TypeCompiler.Compile(schema);
  return {
    check: (value: unknown): value is Static<T> => checker.Check(value),
    issues(value: unknown, limit = 20): string[] {
      const out: string[] = [];
      for (const error of checker.Errors(value)) {
        out.push(`${error.path || "/"}: ${error.message}`);
        if (out.length >= limit) break;
      }
      return out;
    },
  };
}
