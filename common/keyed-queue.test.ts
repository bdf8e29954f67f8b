import { describe, expect, it } from 'vitest';
import { KeyedQueue } from './keyed-queue';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('KeyedQueue', () => {
  it('runs one key in order, even when an earlier task is slower', async () => {
    const q = new KeyedQueue(() => {});
    const order: number[] = [];
    void q.run('a', async () => {
      await sleep(20);
      order.push(1);
    });
    void q.run('a', () => order.push(2));
    await q.idle();
    expect(order).toEqual([1, 2]);
  });

  it('runs different keys side by side', async () => {
    const q = new KeyedQueue(() => {});
    const order: string[] = [];
    void q.run('slow', async () => {
      await sleep(20);
      order.push('slow');
    });
    void q.run('fast', () => order.push('fast'));
    await q.idle();
    expect(order).toEqual(['fast', 'slow']);
  });

  it('reports a failing task and goes on with the next', async () => {
    const errors: [string, string][] = [];
    const q = new KeyedQueue((err, key) => errors.push([key, (err as Error).message]));
    const ran: string[] = [];
    await q.run('n1', () => {
      throw new Error('store down');
    });
    await q.run('n1', () => ran.push('after'));
    expect(errors).toEqual([['n1', 'store down']]);
    expect(ran).toEqual(['after']);
  });
});
