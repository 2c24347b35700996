/**
 * The first key written twice in one JSON object of `text`, or undefined. JSON.parse keeps the last of two equal keys
 * silently; at a money boundary (`{"token":"M1","token":"M2"}`) that is an ambiguity to refuse, not to guess at.
 * Meant for text JSON.parse has accepted: a lexical walk over strings, escapes and nesting.
 */
type Frame = { kind: "object"; keys: Set<string>; expectKey: boolean } | { kind: "array" };

export function firstDuplicateKey(text: string): string | undefined {
  const stack: Frame[] = [];
  let index = 0;
  while (index < text.length) {
    const char = text[index];
    const top = stack[stack.length - 1];
    if (char === '"') {
      const end = stringEnd(text, index);
      if (top?.kind === "object" && top.expectKey) {
        const key = JSON.parse(text.slice(index, end + 1)) as string;
        if (top.keys.has(key)) return key;
        top.keys.add(key);
        top.expectKey = false;
      }
      index = end + 1;
      continue;
    }
    if (char === "{") stack.push({ kind: "object", keys: new Set(), expectKey: true });
    else if (char === "[") stack.push({ kind: "array" });
    else if (char === "}" || char === "]") stack.pop();
    else if (char === "," && top?.kind === "object") top.expectKey = true;
    index++;
  }
  return undefined;
}

/** The index of the quote that closes the string opening at `start`. */
function stringEnd(text: string, start: number): number {
  let index = start + 1;
  while (index < text.length) {
    const char = text[index];
    if (char === "\\") index += 2;
    else if (char === '"') return index;
    else index++;
  }
  return text.length - 1;
}
