/**
 * Lists exports of src/ that no file in src/, test/ or bench/ imports: candidates to
 * un-export or delete. A report, not a test: an export can be public on purpose
 * (a type a caller may name), so a person decides. Run:
 *
 *   npx tsx test/architecture/dead-exports.ts
 *
 * It is conservative: a namespace import, `export *` or a dynamic import it cannot
 * read counts as using every export of its target.
 */
import { posix } from 'node:path';
import ts from 'typescript';
import { isRelative, joinInsideRepo } from './module-graph.ts';
import { readSources } from './repo-sources.ts';

const EVERYTHING = '*';

const hasExportModifier = (node: ts.Node): boolean =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) ?? false);
const hasDefaultModifier = (node: ts.Node): boolean =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword) ?? false);

function bindingNames(name: ts.BindingName): string[] {
  if (ts.isIdentifier(name)) return [name.text];
  return name.elements.flatMap((e) => (ts.isOmittedExpression(e) ? [] : bindingNames(e.name)));
}

/** The names a module exports itself (re-exports included). */
function exportedNames(sf: ts.SourceFile): string[] {
  const names: string[] = [];
  for (const stmt of sf.statements) {
    if (ts.isExportDeclaration(stmt)) {
      if (stmt.exportClause !== undefined && ts.isNamedExports(stmt.exportClause)) names.push(...stmt.exportClause.elements.map((e) => e.name.text));
    } else if (ts.isExportAssignment(stmt)) {
      names.push('default');
    } else if (hasExportModifier(stmt)) {
      if (hasDefaultModifier(stmt)) names.push('default');
      else if (ts.isVariableStatement(stmt)) names.push(...stmt.declarationList.declarations.flatMap((d) => bindingNames(d.name)));
      else if ((ts.isFunctionDeclaration(stmt) || ts.isClassDeclaration(stmt) || ts.isInterfaceDeclaration(stmt) || ts.isTypeAliasDeclaration(stmt) || ts.isEnumDeclaration(stmt)) && stmt.name !== undefined) names.push(stmt.name.text);
    }
  }
  return names;
}

/** What a dynamic `import('x')` takes: `const { a } = await import(…)`, `(await import(…)).a`, or everything. */
function dynamicUse(call: ts.CallExpression): string[] {
  let node: ts.Node = call;
  while (ts.isAwaitExpression(node.parent) || ts.isParenthesizedExpression(node.parent)) node = node.parent;
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) && ts.isObjectBindingPattern(parent.name)) {
    return parent.name.elements.map((e) => (e.propertyName !== undefined && ts.isIdentifier(e.propertyName) ? e.propertyName.text : ts.isIdentifier(e.name) ? e.name.text : EVERYTHING));
  }
  if (ts.isPropertyAccessExpression(parent)) return [parent.name.text];
  return [EVERYTHING];
}

/** For each module specifier this file uses, the names it takes from it. */
function usedNames(sf: ts.SourceFile): Array<[string, string[]]> {
  const uses: Array<[string, string[]]> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const names: string[] = [];
      if (clause?.name !== undefined) names.push('default');
      const b = clause?.namedBindings;
      if (b !== undefined) names.push(...(ts.isNamespaceImport(b) ? [EVERYTHING] : b.elements.map((e) => (e.propertyName ?? e.name).text)));
      uses.push([node.moduleSpecifier.text, names]);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.exportClause;
      uses.push([node.moduleSpecifier.text, c === undefined || !ts.isNamedExports(c) ? [EVERYTHING] : c.elements.map((e) => (e.propertyName ?? e.name).text)]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      let q = node.qualifier;
      while (q !== undefined && ts.isQualifiedName(q)) q = q.left;
      uses.push([node.argument.literal.text, [q?.text ?? EVERYTHING]]);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg !== undefined && ts.isStringLiteral(arg)) uses.push([arg.text, dynamicUse(node)]);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return uses;
}

export interface UnusedExport {
  readonly file: string;
  readonly name: string;
  /** The name occurs elsewhere in its own file: un-export it rather than delete it. */
  readonly usedLocally: boolean;
}

export function findUnusedExports(sources: ReadonlyMap<string, string>, exportersUnder = 'src/'): UnusedExport[] {
  const parsed = new Map([...sources].map(([file, text]) => [file, ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)]));
  const used = new Map<string, Set<string>>();
  for (const [file, sf] of parsed) {
    for (const [specifier, names] of usedNames(sf)) {
      if (!isRelative(specifier)) continue;
      const target = joinInsideRepo(posix.dirname(file), specifier);
      if (target === undefined) continue;
      const set = used.get(target) ?? new Set<string>();
      names.forEach((n) => set.add(n));
      used.set(target, set);
    }
  }
  const unused: UnusedExport[] = [];
  for (const [file, sf] of parsed) {
    if (!file.startsWith(exportersUnder)) continue;
    const taken = used.get(file) ?? new Set<string>();
    if (taken.has(EVERYTHING)) continue;
    for (const name of new Set(exportedNames(sf))) {
      if (taken.has(name)) continue;
      const occurrences = name === 'default' ? 0 : (sf.text.match(new RegExp(`\\b${name}\\b`, 'g'))?.length ?? 0);
      unused.push({ file, name, usedLocally: occurrences > 1 });
    }
  }
  return unused;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = findUnusedExports(readSources(['src', 'test', 'bench', 'bin'], ['vitest.config.ts']));
  console.log('| file | export | used in its own file |');
  console.log('| --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.file} | ${r.name} | ${r.usedLocally ? 'yes (un-export)' : 'no (dead?)'} |`);
  console.log(`\n${rows.length} exports of src/ imported by no file in src/, test/ or bench/.`);
}
