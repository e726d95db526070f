/**
 * The channel grammar, the three categories, wildcard expansion and matching: tables of
 * the cases that matter, and properties that tie expansion and matching together.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { MAX_CHANNEL_LENGTH } from '../lib/channel-name.js';
import { channelMatches, expandChannel, parseChannel } from '../lib/channel-name.js';

describe('channel names', function () {
  describe('parseChannel', function () {
    const valid: [string, 'meta' | 'service' | 'broadcast', '*' | '**' | null][] = [
      ['/a', 'broadcast', null],
      ['/a/b/c', 'broadcast', null],
      ['/chat/room-1_x', 'broadcast', null],
      ["/a!~()$@#+.{} z", 'broadcast', null],
      ['/A/Z/0/9', 'broadcast', null],
      ['/a/*', 'broadcast', '*'],
      ['/a/**', 'broadcast', '**'],
      ['/*', 'broadcast', '*'],
      ['/**', 'broadcast', '**'],
      ['/meta/connect', 'meta', null],
      ['/meta/anything', 'meta', null],
      ['/meta/*', 'meta', '*'],
      ['/meta/**', 'meta', '**'],
      ['/meta', 'broadcast', null],
      ['/metadata', 'broadcast', null],
      ['/service/echo', 'service', null],
      ['/service/a/b', 'service', null],
      ['/service/**', 'service', '**'],
      ['/service', 'broadcast', null],
      ['/services/x', 'broadcast', null],
      ['/' + 'a'.repeat(MAX_CHANNEL_LENGTH - 1), 'broadcast', null],
    ];
    for (const [name, kind, wildcard] of valid) {
      it(`${JSON.stringify(name.length > 40 ? name.slice(0, 20) + '…' : name)} is ${kind}${wildcard ? ' ' + wildcard : ''}`, function () {
        expect(parseChannel(name)).to.deep.equal({ kind, wildcard });
      });
    }

    const invalid: unknown[] = [
      '',
      '/',
      'a',
      'a/b',
      '//',
      '//a',
      '/a//b',
      '/a/',
      '/a/b/',
      '/*/a',
      '/a/*/b',
      '/a/**/b',
      '/a/***',
      '/a/b*',
      '/a*',
      '/**a',
      '/a?b',
      '/a%b',
      '/a,b',
      '/a;b',
      '/a:b',
      '/a\\b',
      '/a"b',
      "/a'b",
      '/a<b>',
      '/a\tb',
      '/a\nb',
      '/a\u0000b',
      '/caf\u00e9',
      '/\u{1F600}',
      '/' + 'a'.repeat(MAX_CHANNEL_LENGTH),
      5,
      null,
      undefined,
      {},
      ['/a'],
    ];
    for (const name of invalid) {
      it(`${JSON.stringify(typeof name === 'string' && name.length > 40 ? name.slice(0, 20) + '…' : name) ?? 'undefined'} is invalid`, function () {
        expect(parseChannel(name)).to.equal(null);
      });
    }

    it('never throws, and answers the same for the same name (the cache is transparent)', function () {
      fc.assert(
        fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.stringMatching(/^(\/[a-z*]{1,3}){1,4}\/?$/)), (name) => {
          const first = parseChannel(name);
          expect(parseChannel(name)).to.deep.equal(first);
          if (first !== null) {
            expect(name.startsWith('/')).to.equal(true);
            expect(name.split('/').slice(1).every((s) => s.length > 0)).to.equal(true);
          }
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('expandChannel', function () {
    const table: [string, string[]][] = [
      ['/a', ['/a', '/*', '/**']],
      ['/a/b', ['/a/b', '/a/*', '/a/**', '/**']],
      ['/a/b/c', ['/a/b/c', '/a/b/*', '/a/b/**', '/a/**', '/**']],
      ['/meta/connect', ['/meta/connect', '/meta/*', '/meta/**', '/**']],
    ];
    for (const [name, keys] of table) {
      it(`${name} → ${keys.join(' ')}`, function () {
        expect(expandChannel(name)).to.deep.equal(keys);
      });
    }
  });

  describe('channelMatches', function () {
    const table: [string, string, boolean][] = [
      ['/a/b', '/a/b', true],
      ['/a/b', '/a/bc', false],
      ['/a/b', '/a', false],
      ['/a/*', '/a/b', true],
      ['/a/*', '/a/b/c', false],
      ['/a/*', '/a', false],
      ['/a/*', '/ab/c', false],
      ['/a/**', '/a/b', true],
      ['/a/**', '/a/b/c/d', true],
      ['/a/**', '/a', false],
      ['/a/**', '/ab/c', false],
      ['/*', '/a', true],
      ['/*', '/a/b', false],
      ['/**', '/a', true],
      ['/**', '/a/b/c', true],
    ];
    for (const [pattern, channel, result] of table) {
      it(`${pattern} ${result ? 'matches' : 'does not match'} ${channel}`, function () {
        expect(channelMatches(pattern, channel)).to.equal(result);
      });
    }
  });

  describe('properties', function () {
    // A small alphabet, so that generated channels and patterns overlap often.
    const segment = fc.constantFrom('a', 'b', 'ab', 'a.b', 'x-y', 'meta', 'service');
    const concrete = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => '/' + s.join('/'));
    const pattern = fc.oneof(
      concrete,
      fc.array(segment, { minLength: 0, maxLength: 4 }).chain((s) =>
        fc.constantFrom('*', '**').map((w) => '/' + [...s, w].join('/')),
      ),
    );

    it('channelMatches(p, c) holds exactly when p is among the expansions of c', function () {
      fc.assert(
        fc.property(pattern, concrete, (p, c) => {
          expect(channelMatches(p, c), `${p} vs ${c}`).to.equal(expandChannel(c).includes(p));
        }),
        { numRuns: 5000 },
      );
    });

    it('every expansion of a valid channel is a valid name: the channel, then one `*`, then `**` per level', function () {
      fc.assert(
        fc.property(concrete, (c) => {
          const keys = expandChannel(c);
          const depth = c.split('/').length - 1;
          expect(keys).to.have.length(depth + 2);
          expect(keys[0]).to.equal(c);
          expect(new Set(keys).size).to.equal(keys.length);
          for (const k of keys.slice(1)) {
            const info = parseChannel(k);
            expect(info, k).to.not.equal(null);
            expect(info!.wildcard, k).to.not.equal(null);
            expect(channelMatches(k, c), `${k} should match ${c}`).to.equal(true);
          }
        }),
        { numRuns: 1000 },
      );
    });
  });
});
