/**
 * Two processes sharing a collection. Run each in its own terminal (same REDIS_URL):
 *
 *   npx ts-node examples/shared-collection.ts follow     # prints every change
 *   npx ts-node examples/shared-collection.ts publish    # writes, updates, expires and deletes items
 */
import Pack from '../index';

interface Artist {
  genre: string;
  listeners?: number;
}

async function main(role: string): Promise<void> {
  const client = Pack.createClient(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  client.on('error', (err) => console.warn('[memis]', err.message));
  const artists = client.database('region-nl').collection<Artist>('artists');

  if (role === 'follow') {
    artists.on('set', (key, data) => console.log('set', key, data));
    artists.multi('expire delete', (key, data) => console.log('gone', key, '(last copy:', data, ')'));
    await artists.subscribe();
    console.log(`following region-nl/artists: ${artists.size} items now; Ctrl-C to stop`);
    process.once('SIGINT', () => void client.quit());
    return;
  }

  await artists.set('coldplay', { genre: 'Alternative', listeners: 1 });
  await artists.set('coldplay', { genre: 'Alternative', listeners: 2 });
  await artists.set('muse', { genre: 'Rock' }, 2); // expires after 2 s
  await artists.del('coldplay');
  console.log('published; muse expires in 2 s');
  await client.quit();
}

main(process.argv[2] ?? 'publish').catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
