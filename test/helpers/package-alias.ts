/**
 * Preload for running README blocks (after ts-node's register): the package's published name resolves to this
 * checkout's index.ts, so no build is needed.
 */
import Module from 'node:module';
import path from 'node:path';

const entry = path.join(__dirname, '..', '..', 'index.ts');
const internals = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
const resolve = internals._resolveFilename;
internals._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
  return resolve.call(this, request === 'machinepack-redis-ts' ? entry : request, ...rest);
};
