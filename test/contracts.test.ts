// The public contracts as tools read them: the README's error table against the code arrays, every
// `@defaultValue` that names a constant against that constant, and a `@throws` on every model method.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { CLI_ERROR_CODES } from '../src/cli/errors.js';
import { ERROR_CODES } from '../src/errors/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Every class the README's table must list, with its codes: the library's and the command line's. */
const CLASSES: Readonly<Record<string, readonly string[]>> = { ...ERROR_CODES, CliError: CLI_ERROR_CODES };
const CLASS_NAMES = ['OndeviceError', ...Object.keys(CLASSES)];

/** Files whose option interfaces must state their defaults as `@defaultValue`, not in prose. */
const OPTION_FILES = [
  'src/index.ts',
  'src/worker/protocol.ts',
  'src/node/index.ts',
  'src/client/model.ts',
  'src/client/batcher.ts',
  'src/client/cache.ts',
  'src/monitor/monitor.ts',
  'src/monitor/drift.ts',
  'src/monitor/outbox.ts',
  'src/explain/shared.ts',
  'src/explain/shapley.ts',
  'src/explain/importance.ts',
  'src/explain/dependence.ts',
  'src/features/spec.ts',
  'src/runtimes/runtime.ts',
  'src/vite/index.ts',
  'src/vite/offline.ts',
  'src/bundle/channel.ts',
];
/** Interfaces of those files read as options besides the `...Options` ones (the spec's `limits`, a channel's optional fields). */
const OPTION_INTERFACES = new Set(['FeatureLimits', 'Channel']);

/** Methods that never reject or throw: their `@throws` says "Never" instead of naming a class. */
const NEVER_THROWS = new Set(['dispose', 'on']);

const CODE = /^[A-Z][A-Z0-9_]+$/;

describe("the README's error table", () => {
  const rows = errorTable(readFileSync(join(ROOT, 'README.md'), 'utf8'));

  it('has one row per error class', () => {
    expect([...rows.keys()].sort()).toEqual(Object.keys(CLASSES).sort());
  });

  it.each(Object.keys(CLASSES))('lists exactly the codes of %s', (name) => {
    const listed = rows.get(name) ?? [];
    const codes = CLASSES[name]!;
    expect({ missing: codes.filter((c) => !listed.includes(c)), unknown: listed.filter((c) => !codes.includes(c)) }).toEqual({
      missing: [],
      unknown: [],
    });
    expect(new Set(listed).size).toBe(listed.length);
  });
});

describe('@defaultValue tags', () => {
  const sources = new Map(listSources('src').map((file) => [file, parse(file)]));
  const tagged = [...sources.values()].flatMap(defaultTags);
  const named = tagged.filter((tag) => tag.constant !== undefined);

  it('are found where the options are (the check reads real tags)', () => {
    expect(named.length).toBeGreaterThanOrEqual(15);
  });

  it('are one per property, and name a constant only after its value', () => {
    const problems: string[] = [];
    for (const tag of tagged) {
      if (tag.count > 1) problems.push(`${tag.where}: ${tag.count} @defaultValue tags`);
      // A constant in parentheses is checked against its value only when the value comes first.
      if (tag.constant === undefined && /\(`[A-Z][A-Z0-9_]*(\.[\w$]+)*`\)/.test(tag.text))
        problems.push(`${tag.where}: "${tag.text}" names a constant without its value first`);
    }
    expect(problems).toEqual([]);
  });

  it.each(named.map((tag) => [tag.where, tag] as const))(
    '%s: the constant is exported where the interface can see it, with the value stated',
    async (_, tag) => {
      const root = tag.constant!.split('.')[0]!;
      const candidates = [tag.file, ...relativeImports(sources.get(tag.file) ?? parse(tag.file), tag.file)];
      let value: unknown;
      let found: string | undefined;
      for (const file of candidates) {
        const module = (await import(pathToFileURL(join(ROOT, file)).href)) as Record<string, unknown>;
        if (Object.hasOwn(module, root)) {
          value = tag.constant!.split('.').reduce<unknown>((object, key) => (object as Record<string, unknown> | undefined)?.[key], module);
          found = file;
          break;
        }
      }
      expect(found, `${tag.constant} is exported by none of ${candidates.join(', ')}`).toBeDefined();
      expect(sameValue(value, tag.value!), `${tag.constant} (${found}) is ${JSON.stringify(value)}, the tag says ${tag.value}`).toBe(true);
    },
  );

  it('replace every default stated in prose in the option interfaces', () => {
    const problems: string[] = [];
    for (const file of OPTION_FILES) {
      const source = sources.get(file)!;
      source.forEachChild(function visit(node) {
        if (ts.isInterfaceDeclaration(node) && (node.name.text.endsWith('Options') || OPTION_INTERFACES.has(node.name.text))) {
          for (const member of node.members) {
            const prose = jsDocs(member)
              .map((doc) => ts.getTextOfJSDocComment(doc.comment) ?? '')
              .join('\n');
            const hasTag = ts.getJSDocTags(member).some((tag) => tag.tagName.text === 'defaultValue');
            if (/\bdefault\b/i.test(prose) && !hasTag)
              problems.push(`${file}: ${node.name.text}.${member.name?.getText(source) ?? '?'}: "${prose.replace(/\s+/g, ' ')}"`);
          }
        }
        node.forEachChild(visit);
      });
    }
    expect(problems).toEqual([]);
  });
});

describe('@throws', () => {
  const protocol = parse('src/worker/protocol.ts');
  const model = findInterface(protocol, 'OndeviceModel');

  it('is on every method of OndeviceModel, naming an error class as its type (or saying it never rejects)', () => {
    const problems: string[] = [];
    for (const member of model.members) {
      const name = member.name?.getText(protocol) ?? '?';
      const texts = throwsTexts(member);
      if (texts.length === 0) problems.push(`${name}: no @throws`);
      else if (NEVER_THROWS.has(name)) {
        if (!texts.every((text) => text.startsWith('Never'))) problems.push(`${name}: expected "@throws Never: ..."`);
      } else if (!texts.some((text) => namedClass(text) !== undefined)) problems.push(`${name}: no @throws names an error class`);
    }
    expect(model.members.length).toBeGreaterThanOrEqual(16);
    expect(problems).toEqual([]);
  });

  it.each([
    ['src/index.ts', 'load'],
    ['src/node/index.ts', 'load'],
  ])('is on %s %s()', (file, name) => {
    const source = parse(file);
    const declaration = source.statements.find((s): s is ts.FunctionDeclaration => ts.isFunctionDeclaration(s) && s.name?.text === name);
    expect(declaration).toBeDefined();
    expect(throwsTexts(declaration!).filter((text) => namedClass(text) !== undefined).length).toBeGreaterThanOrEqual(3);
  });

  it('names only codes of the class it names', () => {
    const problems: string[] = [];
    const documented: [string, ts.Node][] = [
      ...model.members.map((m): [string, ts.Node] => [`OndeviceModel.${m.name?.getText(protocol) ?? '?'}`, m]),
      ...['src/index.ts', 'src/node/index.ts'].flatMap((file) =>
        parse(file)
          .statements.filter((s) => ts.isFunctionDeclaration(s) && s.name?.text === 'load')
          .map((s): [string, ts.Node] => [`${file} load`, s]),
      ),
    ];
    for (const [where, node] of documented) {
      for (const text of throwsTexts(node)) {
        const name = namedClass(text);
        if (name === undefined) continue;
        const codes = CLASSES[name] ?? [];
        for (const code of codeSpans(text).filter((span) => CODE.test(span))) {
          if (!codes.includes(code)) problems.push(`${where}: ${name} has no code ${code}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

/** The `### Errors` table: class (its first code span) -> the codes in its row. */
function errorTable(readme: string): Map<string, string[]> {
  const start = readme.indexOf('\n### Errors\n');
  expect(start, 'README.md has a "### Errors" section').toBeGreaterThanOrEqual(0);
  const section = readme.slice(start + 1).split(/\n#{2,3} /)[0]!;
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('|') || /^\|\s*-/.test(line)) continue;
    const cells = line.split('|').slice(1, -1);
    const name = codeSpans(cells[0] ?? '')[0];
    if (name === undefined) continue; // the header row
    expect(rows.has(name), `${name} has one row`).toBe(false);
    rows.set(
      name,
      codeSpans(cells[1] ?? '').filter((span) => CODE.test(span)),
    );
  }
  return rows;
}

function codeSpans(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

/** The error class a `@throws` tag gives as its type (`@throws {InputError} ...`), if it is one. */
function namedClass(text: string): string | undefined {
  const type = /^\{(\w+)\}/.exec(text)?.[1];
  return type !== undefined && CLASS_NAMES.includes(type) ? type : undefined;
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
}

function listSources(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)).split('\\').join('/'))
    .sort();
}

function jsDocs(node: ts.Node): ts.JSDoc[] {
  return ts.getJSDocCommentsAndTags(node).filter((doc): doc is ts.JSDoc => ts.isJSDoc(doc));
}

/** Each `@throws` tag as text: its JSDoc type (`{InputError}`, the class) and what follows. */
function throwsTexts(node: ts.Node): string[] {
  return ts
    .getJSDocTags(node)
    .filter((tag): tag is ts.JSDocThrowsTag => ts.isJSDocThrowsTag(tag))
    .map((tag) =>
      `${tag.typeExpression === undefined ? '' : `{${tag.typeExpression.type.getText()}} `}${ts.getTextOfJSDocComment(tag.comment) ?? ''}`.trim(),
    );
}

function findInterface(source: ts.SourceFile, name: string): ts.InterfaceDeclaration {
  const found = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name);
  if (found === undefined) throw new Error(`${source.fileName} declares no interface ${name}`);
  return found;
}

interface DefaultTag {
  readonly file: string;
  readonly where: string;
  readonly text: string;
  /** `@defaultValue` tags on the same declaration. */
  readonly count: number;
  /** The first code span, when a constant follows it in parentheses. */
  readonly value?: string;
  readonly constant?: string;
}

/** Every declaration's first `@defaultValue` tag: `` `value` (`CONSTANT`) `` gives the value and the constant. */
function defaultTags(source: ts.SourceFile): DefaultTag[] {
  const tags: DefaultTag[] = [];
  source.forEachChild(function visit(node) {
    const own = ts.getJSDocTags(node).filter((tag) => tag.tagName.text === 'defaultValue' && tag.parent.parent === node);
    if (own.length > 0) {
      const text = (ts.getTextOfJSDocComment(own[0]!.comment) ?? '').trim();
      const named = /^`([^`]+)`\s*\(`([A-Za-z_$][\w$]*(?:\.[\w$]+)*)`\)/.exec(text);
      const owner = ts.isInterfaceDeclaration(node.parent) || ts.isClassDeclaration(node.parent) ? `${node.parent.name?.text ?? '?'}.` : '';
      const where = `${source.fileName} ${owner}${(node as ts.Node & { name?: ts.Node }).name?.getText(source) ?? '?'}`;
      tags.push({
        file: source.fileName,
        where,
        text,
        count: own.length,
        ...(named === null ? {} : { value: named[1]!, constant: named[2]! }),
      });
    }
    node.forEachChild(visit);
  });
  return tags;
}

/** The files a source imports or re-exports from, by relative specifier (`./x.js` is `./x.ts`). */
function relativeImports(source: ts.SourceFile, file: string): string[] {
  const files: string[] = [];
  for (const statement of source.statements) {
    const specifier =
      (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
      statement.moduleSpecifier !== undefined &&
      ts.isStringLiteral(statement.moduleSpecifier)
        ? statement.moduleSpecifier.text
        : undefined;
    if (specifier === undefined || !specifier.startsWith('.')) continue;
    files.push(
      relative(ROOT, resolve(ROOT, dirname(file), specifier.replace(/\.js$/, '.ts')))
        .split('\\')
        .join('/'),
    );
  }
  return [...new Set(files)];
}

/** The tag's value (`30000`, `'bundles'`, `true`) against the constant's, as JSON or as text. */
function sameValue(actual: unknown, stated: string): boolean {
  const quoted = /^'(.*)'$/.exec(stated);
  let parsed: unknown = stated;
  if (quoted !== null) parsed = quoted[1];
  else {
    try {
      parsed = JSON.parse(stated);
    } catch {
      parsed = stated;
    }
  }
  return JSON.stringify(actual) === JSON.stringify(parsed) || String(actual) === stated;
}
