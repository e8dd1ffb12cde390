/** "Did you mean …?" for unknown commands: edit distance plus topic and substring bonuses. */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** Up to `max` known ids closest to `input`; always at least one when any id exists. */
export function suggestCommands(input: string, ids: string[], max = 3): string[] {
  const needle = input.toLowerCase();
  const [topic, name = ''] = needle.split(':');
  const scored = ids.map((id) => {
    const [idTopic, idName = ''] = id.split(':');
    let score = levenshtein(needle, id);
    if (name && idTopic === topic) score -= 3;
    if (name && (idName.includes(name) || name.includes(idName))) score -= 2;
    if (id.includes(needle)) score -= 4;
    return { id, score };
  });
  scored.sort((a, b) => a.score - b.score || a.id.localeCompare(b.id));
  const best = scored[0]?.score ?? 0;
  const close = scored.filter((s) => s.score <= best + 2).slice(0, max);
  return close.map((s) => s.id);
}
