/**
 * Pure decoders of the two streams: raw WebSocket frames in, values out. No I/O; unit-tested in
 * test/binance/decode.test.ts.
 */
import type { RawData } from 'ws';

export type UserFrame = { ok: true; payload: object } | { ok: false; bytes: number };

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

export function rawLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

/**
 * A user-data frame: any JSON object or array, unmodified. Anything else (binary, invalid or truncated
 * JSON, null, a number, a string) is malformed.
 */
export function decodeUserFrame(data: RawData, isBinary: boolean): UserFrame {
  if (isBinary) return { ok: false, bytes: rawLength(data) };
  try {
    const payload = JSON.parse(rawToString(data)) as unknown;
    if (payload !== null && typeof payload === 'object') return { ok: true, payload };
  } catch {
    // invalid JSON: reported as malformed below
  }
  return { ok: false, bytes: rawLength(data) };
}

/** The entries of a mark-price frame: the combined envelope's `data`, or a bare array; null otherwise. */
export function decodeMarkFrame(data: RawData, isBinary: boolean): unknown[] | null {
  if (isBinary) return null;
  try {
    const parsed = JSON.parse(rawToString(data)) as unknown;
    const entries = Array.isArray(parsed) ? parsed : (parsed as { data?: unknown } | null)?.data;
    return Array.isArray(entries) ? entries : null;
  } catch {
    return null; // not JSON: the caller counts and logs it
  }
}
