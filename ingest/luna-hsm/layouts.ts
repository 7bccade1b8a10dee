import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { KeywatchError } from '../../core/errors.ts';

/**
 * Layouts of a Luna audit line's body (what is left after a syslog header), as data: a named RE2
 * pattern whose named groups say where each field is. A user adds layouts for what their relay
 * writes, in a JSON file named by `KEYWATCH_LUNA_LAYOUTS` (or inline JSON in it); they are tried
 * before the built-in ones. Fields a layout does not capture are still looked for one by one
 * (normalize-sql.ts), so a layout only needs the fields that the tolerant search would miss.
 *
 * @example
 *   {"dateOrder": "DMY", "layouts": [{"name": "relay-kv",
 *     "pattern": "^hsm=(?P<serial>\\d+) seq=(?P<seq>\\d+) at=(?P<datetime>\\S+) (?P<message>.*)$"}]}
 */
export const LAYOUT_FIELDS = [
  'seq',
  'datetime',
  'date',
  'time',
  'serial',
  'session',
  'access',
  'role',
  'role_id',
  'operation',
  'result',
  'result_code',
  'key_handle',
  'ouid',
  'mac',
  'host',
  'message',
] as const;
export type LayoutField = (typeof LAYOUT_FIELDS)[number];

/** How a date written `NN/NN/NN` is read. The HSM writes UTC (LunaSH "audit log": "entries are timestamped in UTC"). */
export const DateOrder = z.enum(['MDY', 'DMY', 'YMD']);
export type DateOrder = z.infer<typeof DateOrder>;

export const LunaLayout = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _'),
    pattern: z.string().min(1),
    dateOrder: DateOrder.optional(),
    description: z.string().optional(),
  })
  .strict();
export type LunaLayout = z.infer<typeof LunaLayout>;

export const LunaLayoutsFile = z
  .object({
    /** Order of `NN/NN/NN` dates that no layout gives an order for. */
    dateOrder: DateOrder.default('MDY'),
    layouts: z.array(LunaLayout).default([]),
  })
  .strict();
export type LunaLayoutsFile = z.infer<typeof LunaLayoutsFile>;

export interface CompiledLayout {
  name: string;
  pattern: string;
  dateOrder: DateOrder;
  /** 1-based index of each captured field in the pattern's groups. */
  groups: Partial<Record<LayoutField, number>>;
  builtIn: boolean;
}

export interface CompiledLayouts {
  dateOrder: DateOrder;
  /** User layouts first, then the built-in ones. */
  layouts: CompiledLayout[];
}

const DATE_TIME = '\\d{1,2}/\\d{1,2}/\\d{2,4}[ T]\\d{1,2}:\\d{2}:\\d{2}|\\d{4}-\\d{2}-\\d{2}[ T]\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,9})?(?:Z|[+-]\\d{2}:?\\d{2})?';
const RECORD_HEAD = `^\\s*(?P<seq>\\d+)\\s*,\\s*(?P<datetime>${DATE_TIME})\\s*,`;

/**
 * A record of a Luna audit log file is `<record number>,<date time>,<message>,<HMAC>`, as in a
 * record copied from a Luna log (`23        ,04/08/24 15:00:18,session 12 Access 234:456
 * operation LUNA_MODIFY_OBJECT returned LUNA_RET_SUCCESS   ,89487E5E...`): number and message are
 * space-padded, the HMAC is what `audit log verify` checks. The first layout also reads the
 * message in that order, with the serial and role that other records carry (`S/N 1520001
 * session 14 Access 2147483651:8812 CU(5) operation LUNA_DECRYPT_INIT returned RC_OK(0x00000000)
 * using key handle(2001)`; that order is assumed); the second reads only number and time. What
 * follows the part a layout reads (key handle, HMAC) is looked for on its own. Patterns stop at
 * the last field they need: RE2 extracts groups over the matched span only, so a pattern that
 * runs to the end of the line costs several times more. The date's order is not documented.
 */
export const BUILT_IN_LAYOUTS: readonly LunaLayout[] = [
  {
    name: 'luna-audit-record',
    description: 'record number, date and time, then the message in the usual order',
    pattern:
      RECORD_HEAD +
      '\\s*(?:S/N\\s*(?P<serial>\\d+)\\s+)?(?i:session)\\s+(?P<session>\\d+)\\s+(?i:access)\\s+(?P<access>\\d+(?::\\d+)?)\\s+' +
      '(?:(?P<role>SO|CO|CU|PO|LCO|AU|Auditor|Admin|Administrator)(?:\\s*\\((?P<role_id>\\d+)\\))?\\s+(?:container\\s+)?)?' +
      '(?i:operation)\\s+(?P<operation>LUNA_[A-Z0-9_]+)\\s+(?i:returned)\\s+(?P<result>[A-Z][A-Z0-9_]*)(?:\\s*\\((?P<result_code>0x[0-9A-Fa-f]+)\\))?',
  },
  {
    name: 'luna-audit-record-any',
    description: 'record number and date and time; the message is searched field by field',
    pattern: RECORD_HEAD,
  },
];

/**
 * The capturing groups of an RE2 pattern: how many, and the index of each named one. Throws on
 * what RE2 cannot run (look-around, back-references), so a bad layout fails when it is loaded.
 */
export function captureGroups(pattern: string): { count: number; names: Map<string, number> } {
  const names = new Map<string, number>();
  let count = 0;
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next === 'Q') {
        const end = pattern.indexOf('\\E', i + 2);
        i = end === -1 ? pattern.length : end + 2;
        continue;
      }
      if (next !== undefined && /[1-9]/.test(next)) throw new Error(`back-references (\\${next}) are not supported by RE2`);
      i += 2;
      continue;
    }
    if (c === '[') {
      i++;
      if (pattern[i] === '^') i++;
      if (pattern[i] === ']') i++;
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c === '(') {
      if (pattern[i + 1] === '?') {
        const rest = pattern.slice(i + 2);
        const named = /^P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
        if (named) {
          count++;
          const name = named[1] as string;
          if (names.has(name)) throw new Error(`group name "${name}" is used twice`);
          names.set(name, count);
        } else if (/^(=|!|<=|<!)/.test(rest)) {
          throw new Error('look-around assertions are not supported by RE2');
        }
      } else {
        count++;
      }
    }
    i++;
  }
  return { count, names };
}

function compile(layout: LunaLayout, fallbackOrder: DateOrder, builtIn: boolean): CompiledLayout {
  let groups: Map<string, number>;
  try {
    groups = captureGroups(layout.pattern).names;
    // A syntax check; JS and RE2 differ in details, so ClickHouse has the last word.
    new RegExp(layout.pattern.replace(/\(\?P</g, '(?<').replace(/\(\?[imsU-]+\)/g, '').replace(/\(\?[imsU-]+:/g, '(?:'));
  } catch (e) {
    throw new KeywatchError('CONFIG_INVALID', `Luna layout "${layout.name}": the pattern is not a usable regular expression: ${(e as Error).message}`);
  }
  const out: Partial<Record<LayoutField, number>> = {};
  for (const [name, index] of groups) {
    if (!(LAYOUT_FIELDS as readonly string[]).includes(name)) {
      throw new KeywatchError('CONFIG_INVALID', `Luna layout "${layout.name}": group "${name}" is not a field; use ${LAYOUT_FIELDS.join(', ')}`);
    }
    out[name as LayoutField] = index;
  }
  if (groups.size === 0) throw new KeywatchError('CONFIG_INVALID', `Luna layout "${layout.name}": the pattern names no field; use (?P<field>...) groups`);
  return { name: layout.name, pattern: layout.pattern, dateOrder: layout.dateOrder ?? fallbackOrder, groups: out, builtIn };
}

/** Validates a layouts file and puts its layouts before the built-in ones. */
export function compileLayouts(input: unknown): CompiledLayouts {
  const parsed = LunaLayoutsFile.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KeywatchError('CONFIG_INVALID', `Luna layouts: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  const file = parsed.data;
  const names = new Set<string>();
  const layouts = [...file.layouts.map((l) => compile(l, file.dateOrder, false)), ...BUILT_IN_LAYOUTS.map((l) => compile(l, file.dateOrder, true))];
  for (const l of layouts) {
    if (names.has(l.name)) throw new KeywatchError('CONFIG_INVALID', `Luna layouts: the name "${l.name}" is used twice`);
    names.add(l.name);
  }
  return { dateOrder: file.dateOrder, layouts };
}

/** The environment variable that names the layouts file (or holds its JSON). */
export const LAYOUTS_ENV = 'KEYWATCH_LUNA_LAYOUTS';

/** Layouts from `KEYWATCH_LUNA_LAYOUTS`: a file path, or JSON starting with `{`; unset means built-ins only. */
export function layoutsFromEnv(env: NodeJS.ProcessEnv = process.env): CompiledLayouts {
  const value = env[LAYOUTS_ENV]?.trim();
  if (!value) return compileLayouts({});
  let text = value;
  if (!value.startsWith('{')) {
    try {
      text = readFileSync(value, 'utf8');
    } catch (e) {
      throw new KeywatchError('CONFIG_INVALID', `${LAYOUTS_ENV}: cannot read ${value}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new KeywatchError('CONFIG_INVALID', `${LAYOUTS_ENV}: not valid JSON: ${(e as Error).message}`);
  }
  return compileLayouts(json);
}
