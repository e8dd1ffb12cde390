/** Operator management used by the user:* commands. Every change is written to the audit log as "cli:<host>". */
import type { Knex } from 'knex';
import { writeAudit } from '../../db/repositories/audit-log.js';
import { createUser, deleteUser, findUserByEmail, listUsers, normaliseEmail, setPasswordHash, setTotpSecret, type Role, type User } from '../../db/repositories/users.js';
import { UserError } from '../../support/errors.js';
import { hashPassword, passwordProblem } from './passwords.js';
import { newTotpSecret, totpUri } from './totp.js';

export interface OperatorDeps {
  db: Knex;
  now: () => Date;
  host: string;
}

async function audit(d: OperatorDeps, action: string, target: string, details: Record<string, unknown> | null = null): Promise<void> {
  await writeAudit(d.db, { userId: null, actor: `cli:${d.host}`, action, target, details }, d.now());
}

async function mustFind(d: OperatorDeps, email: string): Promise<User> {
  const u = await findUserByEmail(d.db, email);
  if (!u) throw new UserError(`No operator with the e-mail ${normaliseEmail(email)}.`);
  return u;
}

export async function createOperator(d: OperatorDeps, input: { email: string; role: Role; password: string }): Promise<{ id: number; email: string; role: Role }> {
  const email = normaliseEmail(input.email);
  const problem = passwordProblem(input.password);
  if (problem) throw new UserError(problem);
  const id = await createUser(d.db, { email, role: input.role, passwordHash: await hashPassword(input.password), now: d.now() });
  await audit(d, 'user.create', email, { role: input.role });
  return { id, email, role: input.role };
}

export async function changePassword(d: OperatorDeps, email: string, password: string): Promise<void> {
  const u = await mustFind(d, email);
  const problem = passwordProblem(password);
  if (problem) throw new UserError(problem);
  await setPasswordHash(d.db, u.id, await hashPassword(password), d.now());
  await audit(d, 'user.password', u.email);
}

export async function enableTotp(d: OperatorDeps, appKey: Buffer, email: string): Promise<{ email: string; secret: string; uri: string }> {
  const u = await mustFind(d, email);
  const secret = newTotpSecret();
  await setTotpSecret(d.db, appKey, u.id, secret, d.now());
  await audit(d, u.hasTotp ? 'user.2fa_reset' : 'user.2fa_enable', u.email);
  return { email: u.email, secret, uri: totpUri(secret, u.email) };
}

export async function disableTotp(d: OperatorDeps, appKey: Buffer, email: string): Promise<void> {
  const u = await mustFind(d, email);
  await setTotpSecret(d.db, appKey, u.id, null, d.now());
  await audit(d, 'user.2fa_disable', u.email);
}

export async function listOperators(d: OperatorDeps): Promise<Array<{ id: number; email: string; role: Role; two_factor: boolean; last_login_at: string | null; created_at: string | null }>> {
  return (await listUsers(d.db)).map((u) => ({ id: u.id, email: u.email, role: u.role, two_factor: u.hasTotp, last_login_at: u.lastLoginAt?.toISOString() ?? null, created_at: u.createdAt?.toISOString() ?? null }));
}

export async function deleteOperator(d: OperatorDeps, email: string): Promise<void> {
  const u = await mustFind(d, email);
  await deleteUser(d.db, u.id);
  await audit(d, 'user.delete', u.email);
}
