/**
 * Every step class the workers know. Import this module to fill the registry; add a line per module that
 * registers classes (each module calls registerStepClass at import time).
 */
import './builtin.js';
import './user-data.js';

export { getStepClass, registerStepClass, stepClassNames } from '../registry.js';
