import { describe, expect, it } from 'vitest';
import { compareDecimal, decimalsWithin, isDecimal, isPositiveDecimal, normalizeDecimal } from '../../src/support/decimal.js';

describe('decimal strings', () => {
  it('normalises to 8 places without floats', () => {
    expect(normalizeDecimal('142.31')).toBe('142.31000000');
    expect(normalizeDecimal('96012.400000001')).toBe('96012.40000000');
    expect(normalizeDecimal('0.000000015')).toBe('0.00000002');
    expect(normalizeDecimal('-0.5')).toBe('-0.50000000');
    expect(normalizeDecimal('12')).toBe('12.00000000');
    expect(normalizeDecimal('123456789012.12345678')).toBe('123456789012.12345678');
    expect(normalizeDecimal(7)).toBe('7.00000000');
  });

  it('refuses garbage and floats', () => {
    for (const v of ['', 'abc', '1e5', '1.2.3', '.', null, undefined, 1.5, NaN]) expect(normalizeDecimal(v)).toBeNull();
    expect(isDecimal('0.1')).toBe(true);
    expect(isDecimal('--1')).toBe(false);
  });

  it('compares exactly', () => {
    expect(compareDecimal('0.1', '0.10000000')).toBe(0);
    expect(compareDecimal('0.3', '0.2999999999')).toBe(1);
    expect(isPositiveDecimal('0')).toBe(false);
    expect(isPositiveDecimal('0.00000001')).toBe(true);
    expect(isPositiveDecimal('-1')).toBe(false);
  });

  it('matches within a relative tolerance', () => {
    expect(decimalsWithin('100', '100.09', 0.001)).toBe(true);
    expect(decimalsWithin('100', '100.2', 0.001)).toBe(false);
    expect(decimalsWithin('0', '0', 0.001)).toBe(true);
  });
});
