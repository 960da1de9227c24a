/**
 * Type-checks functions with the TypeScript compiler of the user's project, as its own `tsc` would:
 * with the tsconfig.json that includes them (the nearest one above the functions folder, or one it
 * references). Only what the functions reach is checked: their entry files, the project's own
 * files they import, and the project's declaration files; errors are reported per function.
 *
 * Synchronous and CPU-bound (the compiler API is): long-running processes call it from a worker
 * thread (typecheck-worker.ts). A checker keeps its last program per tsconfig, so the next check
 * re-parses only changed files.
 */
import path from 'node:path';
import type * as TS from 'typescript';
import type { TypeIssue } from '../errors.ts';

/** The `typescript` module. */
export type TypeScript = typeof TS;

/** A function to check: its name and entry file (absolute). */
export interface FunctionEntry {
  name: string;
  entry: string;
}

/** What one check found. */
export interface TypecheckReport {
  /** Each checked function's errors (an empty list: none). */
  functions: Record<string, TypeIssue[]>;
  /** Functions that no tsconfig.json includes, so were not checked. */
  uncovered: string[];
  /** The tsconfig.json files used (absolute). */
  configs: string[];
}

/** Compiler output that tells nothing about the code (a config whose `include` matches no file). */
const IGNORED_CODES = new Set([18003]);
/** "Cannot find name 'process'. Do you need to install type definitions for node?" (or add "dom"): wrong advice here. */
const HOST_GLOBAL_CODES = new Set([2580, 2584, 2591]);
const NO_HOST_GLOBALS = 'functions run in a sandbox that has neither Node APIs nor the DOM (fnrun\'s README: "What a handler has")';

interface Project {
  configFile: string;
  parsed: TS.ParsedCommandLine;
}

export class FunctionTypechecker {
  readonly #ts: TypeScript;
  /** Paths in issues are relative to this folder (the one above the functions folder). */
  readonly #root: string;
  readonly #functionsDir: string;
  readonly #programs = new Map<string, TS.Program>();

  constructor(ts: TypeScript, functionsDir: string) {
    this.#ts = ts;
    this.#functionsDir = path.resolve(functionsDir);
    this.#root = path.dirname(this.#functionsDir);
  }

  /** The nearest tsconfig.json at or above the functions folder, or null. */
  configFile(): string | null {
    return this.#ts.findConfigFile(this.#functionsDir, this.#ts.sys.fileExists) ?? null;
  }

  check(functions: readonly FunctionEntry[]): TypecheckReport {
    const report: TypecheckReport = { functions: {}, uncovered: [], configs: [] };
    const nearest = this.configFile();
    if (nearest === null) {
      report.uncovered = functions.map((f) => f.name);
      return report;
    }
    const byProject = new Map<Project, FunctionEntry[]>();
    const projects = this.#projects(nearest);
    for (const fn of functions) {
      const project = projects.find((p) => p.parsed.fileNames.some((f) => path.resolve(f) === fn.entry));
      if (project === undefined) report.uncovered.push(fn.name);
      else byProject.set(project, [...(byProject.get(project) ?? []), fn]);
    }
    for (const [project, members] of byProject) {
      report.configs.push(project.configFile);
      Object.assign(report.functions, this.#checkProject(project, members));
    }
    return report;
  }

  /** The config at `configFile` and, breadth first, the projects it references. */
  #projects(configFile: string): Project[] {
    const ts = this.#ts;
    const seen = new Set<string>();
    const found: Project[] = [];
    const queue = [path.resolve(configFile)];
    while (queue.length > 0 && found.length < 20) {
      const file = queue.shift()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const unrecoverable: TS.Diagnostic[] = [];
      const parsed = ts.getParsedCommandLineOfConfigFile(file, undefined, {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => unrecoverable.push(d),
      }) ?? { options: {}, fileNames: [], errors: unrecoverable };
      found.push({ configFile: file, parsed });
      for (const ref of parsed.projectReferences ?? []) queue.push(path.resolve(ts.resolveProjectReferencePath(ref)));
    }
    return found;
  }

  #checkProject(project: Project, members: FunctionEntry[]): Record<string, TypeIssue[]> {
    const ts = this.#ts;
    const { parsed } = project;
    // Checked, never emitted: options that only matter to a build (or that insist every file of the
    // project be a root) are turned off.
    const options: TS.CompilerOptions = { ...parsed.options, noEmit: true, composite: false, incremental: false, declaration: false, declarationMap: false };
    delete options.tsBuildInfoFile;
    const rootNames = [...new Set([...members.map((m) => m.entry), ...parsed.fileNames.filter((f) => f.endsWith('.d.ts'))])];
    const program = ts.createProgram({ rootNames, options, oldProgram: this.#programs.get(project.configFile), configFileParsingDiagnostics: parsed.errors });
    this.#programs.set(project.configFile, program);

    const shared = [...parsed.errors, ...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
    const configIssues = this.#issues(shared);
    const perFile = new Map<string, TypeIssue[]>();
    const result: Record<string, TypeIssue[]> = {};
    for (const member of members) {
      const issues = [...configIssues];
      for (const file of this.#reachable(program, options, member.entry)) {
        let found = perFile.get(file);
        if (found === undefined) {
          const sf = program.getSourceFile(file)!;
          found = this.#issues([...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]);
          perFile.set(file, found);
        }
        issues.push(...found);
      }
      result[member.name] = issues;
    }
    return result;
  }

  /** The entry and the project files it imports, transitively (not packages, not declarations). */
  #reachable(program: TS.Program, options: TS.CompilerOptions, entry: string): string[] {
    const ts = this.#ts;
    const seen = new Set<string>();
    const stack = [entry];
    while (stack.length > 0) {
      const file = stack.pop()!;
      const sf = program.getSourceFile(file);
      if (seen.has(file) || sf === undefined) continue;
      seen.add(file);
      for (const ref of ts.preProcessFile(sf.text, true, true).importedFiles) {
        const resolved = ts.resolveModuleName(ref.fileName, sf.fileName, options, ts.sys, undefined, undefined, sf.impliedNodeFormat).resolvedModule;
        if (resolved === undefined || resolved.isExternalLibraryImport || resolved.resolvedFileName.endsWith('.d.ts')) continue;
        stack.push(resolved.resolvedFileName);
      }
    }
    return [...seen];
  }

  #issues(diagnostics: readonly TS.Diagnostic[]): TypeIssue[] {
    const ts = this.#ts;
    return diagnostics
      .filter((d) => d.category === ts.DiagnosticCategory.Error && !IGNORED_CODES.has(d.code))
      .map((d) => {
        let message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
        if (HOST_GLOBAL_CODES.has(d.code)) message = `${message.split('.')[0]}: ${NO_HOST_GLOBALS}`;
        if (d.file === undefined || d.start === undefined) return { file: null, line: 0, column: 0, code: d.code, message };
        const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
        const file = path.relative(this.#root, d.file.fileName).split(path.sep).join('/');
        return { file, line: line + 1, column: character + 1, code: d.code, message };
      });
  }
}
