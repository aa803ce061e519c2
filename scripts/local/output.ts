/** What `npm start` prints: plain lines, and a bold heading per step. */

/** ANSI colour for terminals; plain text when piped or when NO_COLOR is set (no-color.org). */
export function color(code: number, text: string): string {
  return process.stdout.isTTY && !process.env.NO_COLOR ? `\u001b[${code}m${text}\u001b[0m` : text;
}

/** Writes one line. */
export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Announces the next step, the way scripts/lib/setup.sh does. */
export function step(text: string): void {
  print(`\n${color(1, `==> ${text}`)}`);
}
