import type { Knex } from 'knex';

/** A migration: a stable name (never renamed once shipped), and reversible up/down steps. */
export interface Migration {
  name: string;
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}
