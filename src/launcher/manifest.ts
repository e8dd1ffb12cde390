/**
 * Reads oclif.manifest.json (built by `npm run build`) without loading oclif, so `list`, `--version`
 * and unknown-command errors cost a JSON.parse instead of a framework boot.
 */
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../support/paths.js';

export interface ManifestFlag {
  name: string;
  type: 'boolean' | 'option';
  char?: string;
  description?: string;
  summary?: string;
  required?: boolean;
  multiple?: boolean;
  options?: string[];
  default?: unknown;
  hidden?: boolean;
}

export interface ManifestArg {
  name: string;
  description?: string;
  required?: boolean;
  options?: string[];
}

export interface ManifestCommand {
  id: string;
  description?: string;
  summary?: string;
  aliases?: string[];
  hidden?: boolean;
  examples?: Array<string | { command: string; description: string }>;
  flags: Record<string, ManifestFlag>;
  args: Record<string, ManifestArg>;
  enableJsonFlag?: boolean;
  /** Athena extension: commands that only read state (viewer-safe in the admin runner). */
  readOnly?: boolean;
}

export interface Manifest {
  version: string;
  commands: Record<string, ManifestCommand>;
}

export function manifestPath(): string {
  return path.join(projectRoot, 'oclif.manifest.json');
}

export function readManifest(): Manifest | null {
  try {
    return JSON.parse(fs.readFileSync(manifestPath(), 'utf8')) as Manifest;
  } catch {
    return null;
  }
}

export function readPackageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** The first line of a command's description. */
export function summaryOf(cmd: ManifestCommand): string {
  return (cmd.summary ?? cmd.description ?? '').split('\n')[0]!.trim();
}
