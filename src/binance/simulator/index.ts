/** The Binance simulator: see ./simulator.ts and docs/simulator.md. */
export { BinanceSimulator, DEFAULT_SIM_SETTINGS, type SimulatorOptions, type SimulatorSettings } from './simulator.js';
export type { LifecycleSpec, LifecycleOutcome, MalformedKind } from './scenarios.js';
export { CONTROL_ROUTES } from './control.js';
