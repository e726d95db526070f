/**
 * The message check: the fast path for plain `/meta/connect` messages must accept and
 * refuse exactly what the zod schema does.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { MessageSchema, validateMessage } from '../lib/message.js';

const anyValue = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.constantFrom('timeout', 'interval', 'reconnect', 'x'), fc.oneof(fc.integer({ min: -5, max: 5 }), fc.double(), fc.string())),
);

const connectLike = fc.record(
  {
    channel: fc.constant('/meta/connect'),
    clientId: anyValue,
    connectionType: anyValue,
    id: anyValue,
    advice: anyValue,
    ext: fc.dictionary(fc.string(), fc.integer()),
  },
  { requiredKeys: ['channel'] },
);

describe('message schema', function () {
  it('the plain-connect fast path agrees with the schema on accept and refuse', function () {
    fc.assert(
      fc.property(connectLike, (raw) => {
        const viaSchema = MessageSchema.safeParse(structuredClone(raw));
        const checked = validateMessage(structuredClone(raw));
        expect(checked.ok, JSON.stringify(raw)).to.equal(viaSchema.success);
        if (checked.ok && viaSchema.success) expect(checked.message).to.deep.equal(viaSchema.data);
      }),
      { numRuns: 3000 },
    );
  });

  it('a heartbeat connect is accepted as it is, numeric ids become strings', function () {
    const hb = { channel: '/meta/connect', clientId: 'abc', connectionType: 'long-polling', id: '7', advice: { timeout: 0 } };
    const r = validateMessage(hb);
    expect(r.ok).to.equal(true);
    const n = validateMessage({ channel: '/meta/connect', clientId: 'abc', id: 12 });
    expect(n.ok && n.message.id).to.equal('12');
  });
});
