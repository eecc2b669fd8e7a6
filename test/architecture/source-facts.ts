/**
 * What one source file says about its neighbours: the modules it imports and the
 * file paths it names. Parsed with the TypeScript compiler's own parser rather than
 * regular expressions, so comments, strings that merely look like imports and
 * multi-line import lists cannot fool it. Pure: text in, facts out.
 */
import ts from 'typescript';

/** How a module is referenced; `typeOnly` edges vanish at run time. */
export type ImportKind = 'import' | 'export-from' | 'dynamic' | 'type-query' | 'require';

export interface ImportFact {
  readonly specifier: string;
  readonly kind: ImportKind;
  readonly typeOnly: boolean;
  readonly line: number;
}

/**
 * A string that names a file on disk. `base` says what it is relative to:
 * the file itself (`new URL(x, import.meta.url)`, `join(dirname(fileURLToPath(import.meta.url)), x)`)
 * or the working directory, which for tests, benches and the CLI is the repository root.
 */
export interface PathFact {
  readonly path: string;
  readonly base: 'file' | 'cwd';
  readonly line: number;
}

export interface SourceFacts {
  readonly imports: readonly ImportFact[];
  readonly paths: readonly PathFact[];
}

/** fs functions whose first argument is a path; a relative literal there is relative to cwd. */
const FS_PATH_CALLS = new Set([
  'readFileSync', 'readFile', 'existsSync', 'statSync', 'stat', 'readdirSync', 'readdir',
  'createReadStream', 'openSync', 'open', 'accessSync', 'access', 'lstatSync', 'realpathSync',
]);
const JOIN_CALLS = new Set(['join', 'resolve']);

function scriptKindOf(fileName: string): ts.ScriptKind {
  if (/\.[cm]?js$/.test(fileName)) return ts.ScriptKind.JS;
  if (fileName.endsWith('.tsx')) return ts.ScriptKind.TSX;
  return ts.ScriptKind.TS;
}

function calleeName(expr: ts.Expression): string | undefined {
  if (ts.isIdentifier(expr)) return expr.text;
  if (ts.isPropertyAccessExpression(expr)) return expr.name.text;
  return undefined;
}

function isImportMetaUrl(node: ts.Node): boolean {
  return ts.isPropertyAccessExpression(node) && ts.isMetaProperty(node.expression) &&
    node.expression.keywordToken === ts.SyntaxKind.ImportKeyword && (node.name.text === 'url' || node.name.text === 'dirname');
}

/** True when the expression is derived from where this file lives (import.meta.url / __dirname). */
function mentionsOwnLocation(node: ts.Node): boolean {
  if (isImportMetaUrl(node) || (ts.isIdentifier(node) && node.text === '__dirname')) return true;
  return ts.forEachChild(node, (child) => (mentionsOwnLocation(child) ? true : undefined)) ?? false;
}

function literalText(node: ts.Node | undefined): string | undefined {
  return node !== undefined && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : undefined;
}

/** `import { type A, type B } from` loads nothing at run time either. */
function importIsTypeOnly(clause: ts.ImportClause | undefined): boolean {
  if (clause === undefined) return false; // side-effect import
  if (clause.isTypeOnly) return true;
  if (clause.name !== undefined) return false;
  const bindings = clause.namedBindings;
  return bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
}

function exportIsTypeOnly(decl: ts.ExportDeclaration): boolean {
  if (decl.isTypeOnly) return true;
  const clause = decl.exportClause;
  return clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly);
}

export function parseSourceFacts(fileName: string, text: string): SourceFacts {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, scriptKindOf(fileName));
  const imports: ImportFact[] = [];
  const paths: PathFact[] = [];
  const lineOf = (node: ts.Node): number => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const spec = literalText(node.moduleSpecifier);
      if (spec !== undefined) imports.push({ specifier: spec, kind: 'import', typeOnly: importIsTypeOnly(node.importClause), line: lineOf(node) });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined) {
      const spec = literalText(node.moduleSpecifier);
      if (spec !== undefined) imports.push({ specifier: spec, kind: 'export-from', typeOnly: exportIsTypeOnly(node), line: lineOf(node) });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const spec = literalText(node.moduleReference.expression);
      if (spec !== undefined) imports.push({ specifier: spec, kind: 'require', typeOnly: node.isTypeOnly, line: lineOf(node) });
    } else if (ts.isImportTypeNode(node)) {
      // `import('…').X` in a type position
      const arg = node.argument;
      const spec = ts.isLiteralTypeNode(arg) ? literalText(arg.literal) : undefined;
      if (spec !== undefined) imports.push({ specifier: spec, kind: 'type-query', typeOnly: true, line: lineOf(node) });
    } else if (ts.isCallExpression(node)) {
      const first = node.arguments[0];
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const spec = literalText(first);
        // A computed specifier cannot be checked; it is recorded so a rule can refuse it.
        imports.push({ specifier: spec ?? '<computed>', kind: 'dynamic', typeOnly: false, line: lineOf(node) });
      } else {
        const name = calleeName(node.expression);
        if (name === 'require') {
          const spec = literalText(first);
          if (spec !== undefined) imports.push({ specifier: spec, kind: 'require', typeOnly: false, line: lineOf(node) });
        } else if (name !== undefined && FS_PATH_CALLS.has(name)) {
          const p = literalText(first);
          if (p !== undefined) paths.push({ path: p, base: 'cwd', line: lineOf(node) });
        } else if (name !== undefined && JOIN_CALLS.has(name) && first !== undefined && mentionsOwnLocation(first)) {
          const rest = node.arguments.slice(1).map(literalText);
          if (rest.length > 0 && rest.every((s) => s !== undefined)) paths.push({ path: rest.join('/'), base: 'file', line: lineOf(node) });
        }
      }
    } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'URL') {
      const [target, base] = node.arguments ?? [];
      const p = literalText(target);
      if (p !== undefined && base !== undefined && isImportMetaUrl(base)) paths.push({ path: p, base: 'file', line: lineOf(node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { imports, paths };
}
