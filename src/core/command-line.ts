/**
 * A command line split into words the way a POSIX shell splits it, without a shell: blanks
 * separate words; 'single quotes' keep everything; "double quotes" keep everything but let a
 * backslash escape $ ` " \ and a newline; a backslash outside quotes keeps the next character.
 * Nothing is expanded ($VAR, ~, globs stay as they are), and an unquoted operator (| ; & < > ( ))
 * is refused: there is no shell to run a pipeline or a redirection.
 */
import { UsageError } from "./errors.ts";

const OPERATORS = new Set(["|", ";", "&", "<", ">", "(", ")"]);

export function splitCommandLine(line: string, input = "command line"): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  const fail = (msg: string): never => {
    throw new UsageError(msg, { input });
  };
  while (i < line.length) {
    const ch = line[i]!;
    if (ch === " " || ch === "\t" || ch === "\n") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) fail("unterminated single quote");
      word += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      i++;
      for (;;) {
        if (i >= line.length) fail("unterminated double quote");
        const c = line[i]!;
        if (c === '"') break;
        if (c === "\\" && i + 1 < line.length && '$`"\\\n'.includes(line[i + 1]!)) {
          if (line[i + 1] !== "\n") word += line[i + 1];
          i += 2;
          continue;
        }
        word += c;
        i++;
      }
      inWord = true;
      i++;
    } else if (ch === "\\") {
      if (i + 1 >= line.length) fail("a backslash at the end");
      if (line[i + 1] !== "\n") {
        word += line[i + 1];
        inWord = true;
      }
      i += 2;
    } else if (OPERATORS.has(ch)) {
      fail(
        `'${ch}' needs a shell, and the command runs without one: quote it if it is part of an argument, or put the pipeline in a script`,
      );
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  if (words.length === 0) fail("no command");
  return words;
}
