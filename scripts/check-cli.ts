/**
 * Keeps the command-line layer thin: every `.action(…)` in src/cli is at most MAX_ACTION_LINES
 * lines (it parses flags, calls one core or node function, renders), and no src/cli module reads
 * files or starts processes itself (`node:fs`, `node:child_process`: that work lives in src/node,
 * where a library user can call it). Run by `npm test`; prints each action's length.
 *
 *   node --import tsx scripts/check-cli.ts [--quiet]
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const MAX_ACTION_LINES = 40;
/** What src/cli may not import: reading inputs and running helpers belong in src/node. */
const NODE_WORK = /^node:(fs|fs\/promises|child_process|worker_threads)$/;

export interface ActionSize {
  file: string;
  /** `command(…)` names on the chain above the action (`criu show`, `layout`). */
  command: string;
  lines: number;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const cliDir = join(root, "src/cli");

/** The command name of a `.command("x").….action(f)` chain, read from the chain's calls. */
function commandOf(call: ts.CallExpression): string {
  let e: ts.Expression = call.expression;
  while (ts.isPropertyAccessExpression(e) || ts.isCallExpression(e)) {
    if (
      ts.isCallExpression(e) &&
      ts.isPropertyAccessExpression(e.expression) &&
      e.expression.name.text === "command" &&
      e.arguments[0] &&
      ts.isStringLiteral(e.arguments[0])
    )
      return e.arguments[0].text.split(" ")[0]!;
    e = ts.isCallExpression(e) ? e.expression : e.expression;
  }
  return "?";
}

export function actionSizes(): { actions: ActionSize[]; imports: string[] } {
  const actions: ActionSize[] = [];
  const imports: string[] = [];
  const files = readdirSync(cliDir, { recursive: true, encoding: "utf8" })
    .filter((n) => n.endsWith(".ts"))
    .sort();
  for (const name of files) {
    const file = join(cliDir, name);
    const text = readFileSync(file, "utf8");
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const lineOf = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line;
    const visit = (n: ts.Node): void => {
      if (
        ts.isCallExpression(n) &&
        ts.isPropertyAccessExpression(n.expression) &&
        n.expression.name.text === "action" &&
        n.arguments[0]
      ) {
        const fn = n.arguments[0];
        actions.push({
          file: relative(root, file),
          command: commandOf(n),
          lines: lineOf(fn.getEnd()) - lineOf(fn.getStart(sf)) + 1,
        });
      }
      if (
        ts.isImportDeclaration(n) &&
        ts.isStringLiteral(n.moduleSpecifier) &&
        NODE_WORK.test(n.moduleSpecifier.text)
      )
        imports.push(`${relative(root, file)} imports ${n.moduleSpecifier.text}`);
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return { actions, imports };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { actions, imports } = actionSizes();
  const long = actions.filter((a) => a.lines > MAX_ACTION_LINES);
  if (!process.argv.includes("--quiet"))
    for (const a of [...actions].sort((x, y) => y.lines - x.lines))
      console.log(`${String(a.lines).padStart(4)}  ${a.command.padEnd(12)} ${a.file}`);
  for (const a of long)
    console.error(`${a.file}: the ${a.command} action is ${a.lines} lines (at most ${MAX_ACTION_LINES})`);
  for (const i of imports) console.error(`${i}: file and process work belongs in src/node`);
  if (long.length || imports.length) process.exit(1);
  const max = Math.max(...actions.map((a) => a.lines));
  console.log(
    `thin CLI: ${actions.length} actions in src/cli, the longest ${max} lines (at most ${MAX_ACTION_LINES}); no file or process work`,
  );
}
