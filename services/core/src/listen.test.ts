import { Type } from "@sinclair/typebox";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { HTTP_PORTS, listenFields, RENAMED_LISTEN_VARIABLES } from "./listen.ts";

describe("listenFields", () => {
  it("gives every component PORT and HOST, defaulting to its port in a pod on every interface", () => {
    for (const component of Object.keys(HTTP_PORTS) as (keyof typeof HTTP_PORTS)[]) {
      const config = parseConfig(Type.Object(listenFields(component)), {});
      expect(config).toEqual({ PORT: HTTP_PORTS[component], HOST: "0.0.0.0" });
    }
    expect(parseConfig(Type.Object(listenFields("router")), { PORT: "0", HOST: "127.0.0.1" })).toEqual({
      PORT: 0,
      HOST: "127.0.0.1",
    });
  });

  it("refuses a variable that was renamed, naming the one to set, rather than listening elsewhere unnoticed", () => {
    const schema = Type.Object(listenFields("operator"));
    for (const old of Object.keys(RENAMED_LISTEN_VARIABLES)) {
      const error = (() => {
        try {
          parseConfig(schema, { [old]: "9000" });
        } catch (e) {
          return e;
        }
      })();
      expect(error, old).toBeInstanceOf(ConfigError);
      expect(String((error as Error).message), old).toContain(`${old} was renamed to ${RENAMED_LISTEN_VARIABLES[old]}`);
    }
    // A schema without a listener ignores them, as it ignores every variable it does not name.
    expect(() => parseConfig(Type.Object({}), { HTTP_PORT: "9000" })).not.toThrow();
  });
});
