/**
 * The in-memory engine: the shared engine contract (spec/support/engine-contract.ts, also
 * run against the Redis engine), plus what only a process-local engine does.
 */
import { expect } from 'chai';
import { MemoryEngine } from '../lib/engines/memory/memory-engine.js';
import { engineContract } from './support/engine-contract.js';

engineContract('memory engine', { makeEngine: () => new MemoryEngine() });

describe('memory engine', function () {
  it('close() forgets everything (the state lived in this process)', function () {
    const engine = new MemoryEngine();
    engine.open({ wake() {}, sessionRemoved() {}, queueOverflow() {} }, { maxQueue: 100, sweepInterval: 10 });
    engine.createSession('s', 60_000);
    expect(engine.sessionCount()).to.equal(1);
    engine.close();
    expect(engine.sessionCount()).to.equal(0);
  });
});
