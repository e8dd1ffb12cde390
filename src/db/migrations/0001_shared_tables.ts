/**
 * The tables the whole box shares: accounts and their keys, the symbol catalogue and its mark prices,
 * listen keys, positions and orders, the raw user-data stream, alerts and the box's settings row.
 */
import type { Knex } from 'knex';
import { clientOf, decimalCol, jsonCol, timestampCol, timestampsCols } from '../schema.js';
import type { Migration } from './types.js';

export const sharedTables: Migration = {
  name: '0001_shared_tables',

  async up(db: Knex) {
    const c = clientOf(db);

    await db.schema.createTable('accounts', (t) => {
      t.increments('id').primary();
      t.string('name', 100).notNullable();
      t.boolean('is_active').notNullable().defaultTo(true);
      t.text('binance_api_key').nullable(); // AES-256-GCM under APP_KEY
      t.text('binance_api_secret').nullable(); // AES-256-GCM under APP_KEY
      t.boolean('on_hedge_mode').notNullable().defaultTo(false);
      timestampsCols(t);
      t.index(['is_active'], 'accounts_active_idx');
    });

    await db.schema.createTable('exchange_symbols', (t) => {
      t.increments('id').primary();
      t.string('symbol', 40).notNullable().unique('exchange_symbols_symbol_unique');
      t.string('pair', 40).nullable();
      t.string('base_asset', 20).nullable();
      t.string('quote_asset', 20).nullable();
      t.string('margin_asset', 20).nullable();
      t.string('contract_type', 30).nullable();
      t.string('status', 30).nullable();
      t.integer('price_precision').nullable();
      t.integer('quantity_precision').nullable();
      decimalCol(t, 'tick_size', c).nullable();
      decimalCol(t, 'step_size', c).nullable();
      timestampCol(t, 'delisted_at').nullable();
      timestampsCols(t);
    });

    // A side table on purpose: the price stream rewrites it every second and must not lock exchange_symbols.
    await db.schema.createTable('exchange_symbol_prices', (t) => {
      t.increments('id').primary();
      t.integer('exchange_symbol_id').unsigned().notNullable().unique('exchange_symbol_prices_symbol_unique');
      decimalCol(t, 'mark_price', c).nullable();
      timestampCol(t, 'mark_price_synced_at').nullable();
      timestampsCols(t);
      t.foreign('exchange_symbol_id', 'exchange_symbol_prices_symbol_fk').references('exchange_symbols.id').onDelete('CASCADE');
    });

    await db.schema.createTable('binance_listen_keys', (t) => {
      t.increments('id').primary();
      t.integer('account_id').unsigned().notNullable().unique('binance_listen_keys_account_unique');
      t.text('listen_key').nullable(); // encrypted
      timestampCol(t, 'last_created_at').nullable();
      timestampCol(t, 'last_keep_alive_at').nullable();
      t.string('last_keep_alive_status', 20).nullable();
      t.integer('failure_count').notNullable().defaultTo(0);
      timestampCol(t, 'last_frame_at').nullable();
      timestampsCols(t);
      t.foreign('account_id', 'binance_listen_keys_account_fk').references('accounts.id').onDelete('RESTRICT');
    });

    await db.schema.createTable('positions', (t) => {
      t.increments('id').primary();
      t.integer('account_id').unsigned().notNullable();
      t.integer('exchange_symbol_id').unsigned().nullable();
      t.string('parsed_trading_pair', 40).notNullable();
      t.string('direction', 10).notNullable(); // LONG | SHORT
      t.string('status', 20).notNullable().defaultTo('new'); // new|opening|active|syncing|waping|closing|cancelling|closed|cancelled|failed
      decimalCol(t, 'quantity', c).nullable();
      decimalCol(t, 'opening_price', c).nullable();
      t.integer('total_limit_orders').notNullable().defaultTo(0);
      timestampCol(t, 'manually_closed_at').nullable();
      timestampCol(t, 'closed_at').nullable();
      timestampsCols(t);
      t.foreign('account_id', 'positions_account_fk').references('accounts.id').onDelete('CASCADE');
      t.foreign('exchange_symbol_id', 'positions_symbol_fk').references('exchange_symbols.id').onDelete('SET NULL');
      t.index(['account_id', 'parsed_trading_pair', 'status'], 'positions_account_pair_status_idx');
      t.index(['status'], 'positions_status_idx');
    });

    await db.schema.createTable('orders', (t) => {
      t.increments('id').primary();
      t.integer('position_id').unsigned().notNullable();
      t.string('uuid', 36).notNullable().unique('orders_uuid_unique');
      t.string('client_order_id', 64).nullable();
      t.string('exchange_order_id', 64).nullable();
      t.string('type', 30).notNullable(); // MARKET | LIMIT | PROFIT-LIMIT | PROFIT-MARKET | STOP-MARKET | ...
      t.string('side', 10).notNullable(); // BUY | SELL
      t.string('position_side', 10).nullable(); // BOTH | LONG | SHORT
      t.string('status', 30).notNullable().defaultTo('NEW');
      t.string('reference_status', 30).nullable();
      decimalCol(t, 'price', c).nullable();
      decimalCol(t, 'quantity', c).nullable();
      decimalCol(t, 'reference_price', c).nullable();
      decimalCol(t, 'reference_quantity', c).nullable();
      decimalCol(t, 'original_price', c).nullable();
      t.boolean('is_algo').notNullable().defaultTo(false);
      t.boolean('reduce_only').notNullable().defaultTo(false);
      jsonCol(t, 'api_result').nullable();
      timestampsCols(t);
      t.foreign('position_id', 'orders_position_fk').references('positions.id').onDelete('CASCADE');
      t.index(['exchange_order_id'], 'orders_exchange_order_idx');
      t.index(['client_order_id'], 'orders_client_order_idx');
      t.index(['position_id', 'status'], 'orders_position_status_idx');
    });

    await db.schema.createTable('api_data_stream', (t) => {
      t.bigIncrements('id').primary();
      t.integer('account_id').unsigned().notNullable();
      t.string('api_system', 20).notNullable().defaultTo('binance');
      t.string('raw_event_type', 64).notNullable();
      t.string('event_type', 40).notNullable();
      t.string('execution_type', 40).nullable();
      t.string('exchange_order_id', 64).nullable();
      t.string('client_order_id', 64).nullable();
      t.string('symbol', 40).nullable();
      t.string('status', 40).nullable();
      t.string('normalized_status', 20).nullable();
      decimalCol(t, 'price', c).nullable();
      decimalCol(t, 'average_price', c).nullable();
      decimalCol(t, 'original_quantity', c).nullable();
      decimalCol(t, 'filled_quantity', c).nullable();
      decimalCol(t, 'last_filled_price', c).nullable();
      decimalCol(t, 'last_filled_quantity', c).nullable();
      timestampCol(t, 'event_time').nullable();
      timestampCol(t, 'received_at').notNullable();
      jsonCol(t, 'raw_payload').notNullable();
      t.string('idempotency_key', 64).notNullable().unique('api_data_stream_idempotency_unique');
      timestampsCols(t);
      t.index(['account_id', 'received_at'], 'api_data_stream_account_received_idx');
      t.index(['event_type', 'received_at'], 'api_data_stream_type_received_idx');
      t.index(['exchange_order_id'], 'api_data_stream_exchange_order_idx');
      t.index(['symbol', 'received_at'], 'api_data_stream_symbol_received_idx');
      t.index(['normalized_status', 'received_at'], 'api_data_stream_status_received_idx');
    });

    await db.schema.createTable('notifications', (t) => {
      t.bigIncrements('id').primary();
      t.string('canonical', 100).notNullable();
      t.string('dedupe_key', 191).notNullable();
      t.string('severity', 20).notNullable(); // info | warning | high | critical
      t.string('title', 255).notNullable();
      t.text('message').nullable();
      jsonCol(t, 'context').nullable();
      t.string('hostname', 100).nullable();
      timestampCol(t, 'created_at').notNullable();
      t.index(['canonical', 'created_at'], 'notifications_canonical_created_idx');
      t.index(['created_at'], 'notifications_created_idx');
    });

    // The box's settings singleton (id = 1). is_cooling_down gates the schedule entries that create work.
    await db.schema.createTable('kraite', (t) => {
      t.increments('id').primary();
      t.boolean('is_cooling_down').notNullable().defaultTo(false);
      t.string('cooling_down_reason', 255).nullable();
      timestampsCols(t);
    });
    await db('kraite').insert({ id: 1, is_cooling_down: false, created_at: new Date(), updated_at: new Date() });
  },

  async down(db: Knex) {
    for (const table of ['kraite', 'notifications', 'api_data_stream', 'orders', 'positions', 'binance_listen_keys', 'exchange_symbol_prices', 'exchange_symbols', 'accounts']) {
      await db.schema.dropTableIfExists(table);
    }
  },
};
