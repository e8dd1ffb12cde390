import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * The project root: the folder that holds package.json. Compiled code lives in dist/, sources in src/,
 * both one level below the root, so the root is two levels above this file in either layout.
 */
export const projectRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Resolve a path relative to the project root (absolute paths pass through). */
export function fromRoot(...parts: string[]): string {
  return path.resolve(projectRoot, ...parts);
}

/** Resolve a path under storage/ (SQLite file, dead letters, logs, markers). */
export function storagePath(...parts: string[]): string {
  return path.resolve(process.env.STORAGE_PATH ? path.resolve(projectRoot, process.env.STORAGE_PATH) : fromRoot('storage'), ...parts);
}
