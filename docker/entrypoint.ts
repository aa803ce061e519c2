// The image's entrypoint: the first argument picks the component, the rest is passed on.
// Written in TypeScript rather than shell so the image needs nothing but node.
import { COMPONENTS } from "./components.ts";

const component = process.argv[2];
const main = component === undefined ? undefined : COMPONENTS[component];
if (main === undefined) {
  const help = component === "--help" || component === "-h";
  console.error(
    `usage: <image> COMPONENT [ARGS…], where COMPONENT is one of: ${Object.keys(COMPONENTS).join(", ")}` +
      (component === undefined || help ? "" : ` (got ${JSON.stringify(component)})`),
  );
  process.exit(help ? 0 : 2);
}
// The component sees its own arguments where a direct `node main.ts …` would put them.
process.argv.splice(2, 1);
await import(new URL(main, import.meta.url).href);
