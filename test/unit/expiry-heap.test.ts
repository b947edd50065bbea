import assert from 'node:assert/strict';
import { ExpiryHeap, MAX_TIMER_MS, timerDelay } from '../../lib/collections/expiry-heap';

describe('expiry heap (no server)', () => {
  it('pops deadlines in order', () => {
    const h = new ExpiryHeap();
    const at = Array.from({ length: 500 }, (_, i) => (i * 7919) % 1000);
    at.forEach((a, i) => h.set(`k${i}`, a));
    const out: number[] = [];
    while (h.size > 0) out.push(h.pop()![0]);
    assert.deepEqual(
      out,
      [...at].sort((a, b) => a - b),
    );
  });

  it('holds one entry per key however often its deadline is set (a hot item re-set with a TTL)', () => {
    const h = new ExpiryHeap();
    for (let i = 0; i < 10_000; i++) h.set('hot', 1000 + (i % 3) * 10);
    h.set('other', 5);
    assert.equal(h.size, 2);
    assert.deepEqual(h.pop(), [5, 'other']);
    assert.equal(h.get('hot'), 1000);
  });

  it('moves a key up and down, and deletes from the middle', () => {
    const h = new ExpiryHeap();
    for (let i = 0; i < 100; i++) h.set(`k${i}`, i);
    h.set('k50', -1);
    h.set('k0', 1000);
    assert.equal(h.delete('k10'), true);
    assert.equal(h.delete('k10'), false);
    assert.deepEqual(h.pop(), [-1, 'k50']);
    const rest: string[] = [];
    while (h.size > 0) rest.push(h.pop()![1]);
    assert.equal(rest.length, 98);
    assert.equal(rest[rest.length - 1], 'k0');
    assert.ok(!rest.includes('k10'));
  });

  it('clamps timer delays below 2^31 ms', () => {
    assert.equal(timerDelay(30 * 24 * 3600 * 1000), MAX_TIMER_MS);
    assert.equal(timerDelay(2 ** 40), MAX_TIMER_MS);
    assert.equal(timerDelay(-5), 0);
    assert.equal(timerDelay(NaN), 0);
    assert.equal(timerDelay(250), 250);
  });
});
